//! Captures, at build time, what `GetInfo` reports as the runtime: the rustc
//! version and the tonic version locked in Cargo.lock. No dependencies, so it
//! costs nothing to build.

use std::path::Path;
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        // "rustc 1.95.0 (59807616e 2026-04-14)" -> "rustc 1.95.0"
        .and_then(|v| {
            v.split_whitespace()
                .take(2)
                .map(str::to_string)
                .reduce(|a, b| a + " " + &b)
        })
        .unwrap_or_else(|| "rust".to_string());
    println!("cargo:rustc-env=HSU_RUSTC_VERSION={rustc_version}");

    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    let tonic = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| locked_version(&text, "tonic"))
        .map(|v| format!("tonic {v}"))
        .unwrap_or_else(|| "tonic".to_string());
    println!("cargo:rustc-env=HSU_GRPC_LIBRARY={tonic}");
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Finds `version = "x"` right after `name = "<crate>"` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let next = lines.next()?.trim();
            return next
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_string);
        }
    }
    None
}
