// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this file from the template; your code goes in src/services/ and src/main.rs.

//! Regenerates `src/gen/` from the `.proto` files under `proto/`.
//!
//! Run it from anywhere in the project with `cargo run --release -p hsu-codegen`.
//! It compiles the protos with the `protoc` bundled in the protoc-bin-vendored
//! crate (so no system `protoc` is needed), generates prost messages and tonic clients and
//! servers, writes the encoded descriptor set that reflection serves, and a
//! `mod.rs` that nests every package. `grpc/reflection/**` is skipped: the
//! reflection service comes ready-made from tonic-reflection.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use prost::Message;

fn main() -> ExitCode {
    // Read at run time (cargo run sets it): a value baked in at compile time
    // would point at wherever the project was first built, so a moved or
    // copied project (with its target/) would regenerate the old location.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let project = Path::new(&manifest_dir).join("..");
    match generate(&project) {
        Ok(count) => {
            println!("hsu-codegen: generated src/gen from {count} proto file(s)");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("hsu-codegen: {err}");
            ExitCode::FAILURE
        }
    }
}

fn generate(project: &Path) -> Result<usize, String> {
    let proto_root = project.join("proto");
    let gen_dir = project.join("src").join("gen");
    let mut files = Vec::new();
    collect_protos(&proto_root, &proto_root, &mut files)
        .map_err(|e| format!("cannot read {}: {e}", proto_root.display()))?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files under {}", proto_root.display()));
    }

    let protoc =
        protoc_bin_vendored::protoc_bin_path().map_err(|e| format!("no bundled protoc: {e}"))?;
    let out = std::env::temp_dir().join(format!("hsu-codegen-{}.binpb", std::process::id()));
    let status = std::process::Command::new(protoc)
        .arg("--include_imports")
        .arg("--include_source_info")
        .arg(format!("--proto_path={}", proto_root.display()))
        .arg(format!("--descriptor_set_out={}", out.display()))
        .args(&files)
        .status()
        .map_err(|e| format!("cannot run protoc: {e}"))?;
    if !status.success() {
        return Err(format!(
            "protoc failed on the protos under {}",
            proto_root.display()
        ));
    }
    let bytes = fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    let _ = fs::remove_file(&out);
    let fds = prost_types::FileDescriptorSet::decode(bytes.as_slice())
        .map_err(|e| format!("bad descriptor set: {e}"))?;

    // Start from an empty folder so a removed proto leaves no stale module.
    if gen_dir.exists() {
        fs::remove_dir_all(&gen_dir)
            .map_err(|e| format!("cannot clear {}: {e}", gen_dir.display()))?;
    }
    fs::create_dir_all(&gen_dir)
        .map_err(|e| format!("cannot create {}: {e}", gen_dir.display()))?;
    fs::write(gen_dir.join("descriptor.bin"), fds.encode_to_vec())
        .map_err(|e| format!("cannot write descriptor.bin: {e}"))?;

    // A file without a package is prost's "_" module, included at the root.
    let packages: BTreeSet<String> = fds
        .file
        .iter()
        .map(|f| f.package.clone().unwrap_or_default())
        .filter(|p| !p.starts_with("google.protobuf"))
        .collect();
    let imports = foreign_types(&fds);

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .out_dir(&gen_dir)
        .compile_fds(fds)
        .map_err(|e| format!("code generation failed: {e}"))?;

    fs::write(gen_dir.join("mod.rs"), module_tree(&packages, &imports))
        .map_err(|e| format!("cannot write mod.rs: {e}"))?;
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_matches_the_generator_helper() {
        assert_eq!(snake("hsu.examples.echo.v1"), "hsu_examples_echo_v1");
        assert_eq!(snake("EchoService"), "echo_service");
        assert_eq!(snake("HTTPGateway"), "http_gateway");
        assert_eq!(snake("GetV2Info"), "get_v2_info");
        assert_eq!(upper_camel("HTTPRequest"), "HttpRequest");
    }
}

fn collect_protos(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let rel = path
            .strip_prefix(root)
            .expect("walked path is under the root")
            .to_path_buf();
        if path.is_dir() {
            if rel != Path::new("grpc/reflection") {
                collect_protos(root, &path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(rel);
        }
    }
    Ok(())
}

/// snake_case as the project generator's `snakeCase` helper spells it
/// (`hsu.examples.echo.v1` -> `hsu_examples_echo_v1`, `HTTPGateway` -> `http_gateway`).
fn snake(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !out.ends_with('_') {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out.trim_end_matches('_').to_string()
}

/// prost's sanitize_identifier: a Rust keyword becomes a raw identifier, or
/// gets a trailing `_` where a raw one is not allowed.
fn sanitize(ident: &str) -> String {
    const RAW: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl", "in", "let", "loop",
        "match", "mod", "move", "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe",
        "use", "where", "while", "dyn", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
        "typeof", "unsized", "virtual", "yield", "async", "await", "try", "gen",
    ];
    if RAW.contains(&ident) {
        format!("r#{ident}")
    } else if ["_", "super", "self", "Self", "extern", "crate"].contains(&ident) {
        format!("{ident}_")
    } else {
        ident.to_string()
    }
}

/// The nested module of a package under `crate::gen` (`hsu.core.v1` -> `hsu::core::v1`).
fn module_path(package: &str) -> String {
    package.split('.').map(|p| sanitize(&snake(p))).collect::<Vec<_>>().join("::")
}

/// The Rust type prost uses for a google.protobuf message: wrappers are
/// plain Rust types, Empty is `()`, the rest come from prost-types.
fn well_known(name: &str) -> String {
    match name {
        "Empty" => "()",
        "BoolValue" => "bool",
        "BytesValue" => "::prost::alloc::vec::Vec<u8>",
        "DoubleValue" => "f64",
        "FloatValue" => "f32",
        "Int32Value" => "i32",
        "Int64Value" => "i64",
        "UInt32Value" => "u32",
        "UInt64Value" => "u64",
        "StringValue" => "::prost::alloc::string::String",
        _ => return format!("::prost_types::{name}"),
    }
    .to_string()
}

/// UpperCamelCase as prost names message types.
fn upper_camel(text: &str) -> String {
    snake(text)
        .split('_')
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|f| f.to_uppercase().chain(cs).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// For each package, the request/response types its services take from
/// other packages, as `(name, rust path)`, so that stubs written with the
/// bare type name compile (`google.protobuf.Empty` is `()` in prost).
fn foreign_types(
    fds: &prost_types::FileDescriptorSet,
) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    let known: BTreeSet<String> = fds.file.iter().filter_map(|f| f.package.clone()).collect();
    for file in &fds.file {
        let package = file.package.clone().unwrap_or_default();
        let local: BTreeSet<String> = file
            .message_type
            .iter()
            .filter_map(|m| m.name.clone())
            .collect();
        for method in file.service.iter().flat_map(|s| s.method.iter()) {
            for full in [&method.input_type, &method.output_type]
                .into_iter()
                .flatten()
            {
                let full = full.trim_start_matches('.');
                let Some((other, name)) = full.rsplit_once('.') else {
                    continue;
                };
                // Only top-level messages of another package get an alias
                // (a nested type is named by its module path).
                if other == package || local.contains(name) || !known.contains(other) {
                    continue;
                }
                let path = match (other, name) {
                    ("google.protobuf", _) => well_known(name),
                    // The flat alias module of a dotted package, the nested module of a one-word one.
                    _ if other.contains('.') => format!("super::{}::{}", snake(other), sanitize(&upper_camel(name))),
                    _ => format!("super::{}::{}", module_path(other), sanitize(&upper_camel(name))),
                };
                let entry = out.entry(package.clone()).or_default();
                if !entry.iter().any(|(n, _)| n == name) {
                    entry.push((upper_camel(name), path));
                }
            }
        }
    }
    out
}

/// Nests each package's file as prost expects (`hsu::core::v1`), so that
/// cross-package references (`super::super::...`) resolve, and adds a flat
/// module per package (`hsu_core_v1`) that templates can name without knowing
/// the nesting, holding the package's items and the foreign types its
/// services use.
fn module_tree(
    packages: &BTreeSet<String>,
    imports: &std::collections::BTreeMap<String, Vec<(String, String)>>,
) -> String {
    #[derive(Default)]
    struct Node {
        children: std::collections::BTreeMap<String, Node>,
        include: Option<String>,
    }
    fn render(node: &Node, depth: usize, out: &mut String) {
        let pad = "    ".repeat(depth);
        if let Some(file) = &node.include {
            out.push_str(&format!("{pad}include!(\"{file}\");\n"));
        }
        for (name, child) in &node.children {
            out.push_str(&format!("{pad}pub mod {name} {{\n"));
            render(child, depth + 1, out);
            out.push_str(&format!("{pad}}}\n"));
        }
    }

    let mut root = Node::default();
    for package in packages {
        let mut node = &mut root;
        if package.is_empty() {
            node.include = Some("_.rs".to_string());
            continue;
        }
        for part in package.split('.') {
            node = node.children.entry(sanitize(&snake(part))).or_default();
        }
        node.include = Some(format!("{package}.rs"));
    }

    let mut out = String::from(
        "// @generated by hsu-codegen (cargo run -p hsu-codegen). Do not edit.\n\
         #![allow(clippy::all, missing_docs, unused_qualifications, unused_imports, dead_code)]\n\n\
         /// Every compiled proto file with its imports, encoded, for reflection.\n\
         pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(\"descriptor.bin\");\n\n",
    );
    render(&root, 0, &mut out);
    out.push('\n');
    for package in packages {
        // A one-word package (`package proto;`) is its own flat module, and
        // a file without a package lives at the root: no alias for either.
        if !package.contains('.') {
            continue;
        }
        out.push_str(&format!(
            "pub mod {} {{\n    pub use super::{}::*;\n",
            snake(package),
            module_path(package)
        ));
        for (name, target) in imports.get(package).into_iter().flatten() {
            if !target.starts_with("super::") && !target.starts_with("::prost_types::") {
                out.push_str(&format!("    pub type {name} = {target};\n"));
            } else {
                out.push_str(&format!("    pub use {target} as {name};\n"));
            }
        }
        out.push_str("}\n");
    }
    out
}
