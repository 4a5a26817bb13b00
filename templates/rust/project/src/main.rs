//! The unit's entry point. The HSU runtime (`src/hsu/`) serves the Core API,
//! health and reflection and follows the unit contract; your services are
//! registered in `src/services/mod.rs` and written in `src/services/*.rs`.

mod gen;
mod hsu;
mod services;

fn main() -> std::process::ExitCode {
    hsu::run(|registry, unit| {
        services::register(registry, unit);
        // Core Reconfigure: the master rewrote $HSU_CONFIG_DIR (`config:` in
        // hsu.yaml) and asks the unit to take the files without a restart.
        // Apply `event.files` here; return `Err(why)` to refuse them (the
        // master then restarts the unit), or drop this hook to always be restarted.
        registry.on_reconfigure(|event| {
            for file in &event.files {
                eprintln!("config {} sha256 {}", file.name, file.sha256);
            }
            Ok(())
        });
    })
}
