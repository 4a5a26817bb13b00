// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! Reads the unit's environment (unit contract, section 1) and its command
//! line. Every error here means "bad environment": the unit exits with code 2.

use super::address::Address;

/// The listen address when neither `--listen` nor `HSU_LISTEN` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// Everything the runtime needs from the outside world.
#[derive(Debug, Clone)]
pub struct Config {
    pub unit_id: String,
    pub listen: Address,
    pub master_addr: Option<Address>,
    pub token: Option<String>,
    pub master_pid: Option<u32>,
    pub index: Option<u32>,
    /// `HSU_CONFIG_DIR`: where the master renders the unit's config files
    /// (Core Reconfigure reloads them).
    pub config_dir: Option<String>,
    /// The listening socket the master passed (socket activation,
    /// sd_listen_fds(3)): fd 3, or None when the unit binds `listen` itself.
    pub listen_fd: Option<i32>,
}

/// The first passed fd (SD_LISTEN_FDS_START).
pub const LISTEN_FDS_START: i32 = 3;

impl Config {
    /// Builds the config from the process environment and arguments.
    pub fn from_process(name: &str) -> Result<Config, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Config::from_parts(name, |key| std::env::var(key).ok(), &args)
    }

    /// Builds the config from an environment lookup and arguments, so tests
    /// need not touch the real environment.
    pub fn from_parts(
        name: &str,
        env: impl Fn(&str) -> Option<String>,
        args: &[String],
    ) -> Result<Config, String> {
        let env = |key: &str| env(key).filter(|v| !v.is_empty());

        let unit_id = env("HSU_UNIT_ID").unwrap_or_else(|| name.to_string());
        if !valid_unit_id(&unit_id) {
            return Err(format!(
                "HSU_UNIT_ID {unit_id:?} is not a valid unit id: use [a-z0-9][a-z0-9._-]*, at most 63 characters"
            ));
        }

        let listen_flag = flag_value(args, "--listen")?;
        // An explicit --listen is the unit's own choice and beats a passed socket too.
        let listen_fd = match listen_flag {
            Some(_) => None,
            None => listen_fd(&env, std::process::id())?,
        };
        let listen_text = match listen_flag {
            Some(value) => value,
            None => env("HSU_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
        };
        let listen =
            Address::parse(&listen_text).map_err(|e| format!("HSU_LISTEN/--listen: {e}"))?;

        let master_addr = env("HSU_MASTER_ADDR")
            .map(|v| Address::parse(&v).map_err(|e| format!("HSU_MASTER_ADDR: {e}")))
            .transpose()?;
        let master_pid = parse_number(env("HSU_MASTER_PID"), "HSU_MASTER_PID")?;
        let index = parse_number(env("HSU_INDEX"), "HSU_INDEX")?;

        Ok(Config {
            unit_id,
            listen,
            master_addr,
            token: env("HSU_TOKEN"),
            master_pid,
            index,
            config_dir: env("HSU_CONFIG_DIR"),
            listen_fd,
        })
    }
}

/// sd_listen_fds(3): the listening socket is fd 3 when LISTEN_FDS is at least
/// 1 and LISTEN_PID is this process. An HSU master cannot know the pid before
/// exec, so it leaves LISTEN_PID unset and sets HSU_LISTEN_FD=3 instead.
/// Without either the variables are someone else's (None); when they are
/// ours, a LISTEN_FDS that is not a whole number >= 1 is an error.
fn listen_fd(env: &impl Fn(&str) -> Option<String>, pid: u32) -> Result<Option<i32>, String> {
    let hsu = env("HSU_LISTEN_FD");
    if let Some(v) = &hsu {
        if v != &LISTEN_FDS_START.to_string() {
            return Err(format!(
                "HSU_LISTEN_FD {v:?}: expected {LISTEN_FDS_START} (the first socket-activation fd)"
            ));
        }
    }
    let ours = match env("LISTEN_PID") {
        Some(listen_pid) => listen_pid == pid.to_string(),
        None => hsu.is_some(),
    };
    if !ours {
        return Ok(None);
    }
    let raw = env("LISTEN_FDS").unwrap_or_default();
    match raw.parse::<u32>() {
        Ok(n) if (1..=9999).contains(&n) && !raw.starts_with('+') => Ok(Some(LISTEN_FDS_START)),
        _ => Err(format!(
            "LISTEN_FDS {raw:?}: expected the number of passed sockets (1) with LISTEN_PID or HSU_LISTEN_FD set"
        )),
    }
}

fn valid_unit_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn parse_number(value: Option<String>, key: &str) -> Result<Option<u32>, String> {
    value
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{key} {v:?} is not a non-negative integer"))
        })
        .transpose()
}

/// Finds `--flag value` or `--flag=value`; any other argument is an error so
/// a typo does not silently fall back to a default.
fn flag_value(args: &[String], flag: &str) -> Result<Option<String>, String> {
    let mut found = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == flag {
            let value = iter
                .next()
                .ok_or_else(|| format!("{flag} needs a value, e.g. {flag} 127.0.0.1:0"))?;
            found = Some(value.clone());
        } else if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
            found = Some(value.to_string());
        } else {
            return Err(format!(
                "unknown argument {arg:?}; the only flag is {flag} <address>"
            ));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(env: &[(&str, &str)], args: &[&str]) -> Result<Config, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Config::from_parts("my-unit", |k| env.get(k).cloned(), &args)
    }

    #[test]
    fn standalone_defaults() {
        let c = config(&[], &[]).unwrap();
        assert_eq!(c.unit_id, "my-unit");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.master_addr.is_none() && c.token.is_none() && c.master_pid.is_none());
    }

    #[test]
    fn flag_wins_over_environment() {
        let c = config(
            &[("HSU_LISTEN", "unix:/tmp/x.sock")],
            &["--listen", "127.0.0.1:0"],
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
        let c = config(&[("HSU_LISTEN", "unix:/tmp/x.sock")], &[]).unwrap();
        assert_eq!(c.listen.to_string(), "unix:/tmp/x.sock");
        let c = config(&[], &["--listen=[::1]:0"]).unwrap();
        assert_eq!(c.listen.to_string(), "[::1]:0");
    }

    #[test]
    fn reads_the_master_variables() {
        let c = config(
            &[
                ("HSU_UNIT_ID", "echo-1"),
                ("HSU_MASTER_ADDR", "unix:///tmp/m.sock"),
                ("HSU_TOKEN", "s3cret"),
                ("HSU_MASTER_PID", "42"),
                ("HSU_INDEX", "3"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.unit_id, "echo-1");
        assert_eq!(c.master_addr.unwrap().to_string(), "unix:/tmp/m.sock");
        assert_eq!(
            (c.token.as_deref(), c.master_pid, c.index),
            (Some("s3cret"), Some(42), Some(3))
        );
    }

    #[test]
    fn bad_environment_is_an_error() {
        assert!(config(&[("HSU_LISTEN", "nonsense")], &[])
            .unwrap_err()
            .contains("HSU_LISTEN"));
        assert!(config(&[("HSU_MASTER_PID", "abc")], &[])
            .unwrap_err()
            .contains("HSU_MASTER_PID"));
        assert!(config(&[("HSU_UNIT_ID", "Bad Id")], &[])
            .unwrap_err()
            .contains("HSU_UNIT_ID"));
        assert!(config(&[], &["--port"])
            .unwrap_err()
            .contains("unknown argument"));
    }
}
