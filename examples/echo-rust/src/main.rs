//! The unit's entry point. The HSU runtime (`src/hsu/`) serves the Core API,
//! health and reflection and follows the unit contract; your services are
//! registered in `src/services/mod.rs` and written in `src/services/*.rs`.

mod gen;
mod hsu;
mod services;

fn main() -> std::process::ExitCode {
    hsu::run(services::register)
}
