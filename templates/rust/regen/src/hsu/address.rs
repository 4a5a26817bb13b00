// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! The unit contract's address syntax: `unix:/path`, `unix:///path`,
//! `host:port` and `tcp://host:port`.

use std::fmt;
use std::path::PathBuf;

/// The kernel's limit for a Unix socket path (`sun_path`), terminator included.
pub const MAX_UNIX_PATH: usize = 108;

/// A parsed listen or dial address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A Unix domain socket at an absolute path.
    Unix(PathBuf),
    /// A TCP host (name, IPv4 or bracketless IPv6) and port.
    Tcp { host: String, port: u16 },
}

/// Why an address could not be parsed; the message names the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError(pub String);

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressError {}

impl Address {
    /// Parses an address in the contract's syntax.
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("unix:") {
            // unix:///abs and unix:/abs name the same path.
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(AddressError(format!(
                    "address {text:?}: a unix socket path must be absolute (unix:/abs/path.sock)"
                )));
            }
            if path.len() >= MAX_UNIX_PATH {
                return Err(AddressError(format!(
                    "address {text:?}: the socket path is {} bytes, the kernel allows at most {}; use a shorter path",
                    path.len(),
                    MAX_UNIX_PATH - 1
                )));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        let hostport = text.strip_prefix("tcp://").unwrap_or(text);
        let (host, port) = hostport.rsplit_once(':').ok_or_else(|| {
            AddressError(format!(
                "address {text:?}: expected host:port, tcp://host:port or unix:/path"
            ))
        })?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || (host.contains(':') && !hostport.starts_with('[')) {
            return Err(AddressError(format!(
                "address {text:?}: missing host (IPv6 hosts go in brackets: [::1]:0)"
            )));
        }
        let port = port.parse::<u16>().map_err(|_| {
            AddressError(format!(
                "address {text:?}: port {port:?} is not a number from 0 to 65535"
            ))
        })?;
        Ok(Address::Tcp {
            host: host.to_string(),
            port,
        })
    }

    /// The `http://` URI a gRPC client dials for a TCP address.
    pub fn http_uri(&self) -> Option<String> {
        match self {
            Address::Tcp { .. } => Some(format!("http://{self}")),
            Address::Unix(_) => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Address {
        Address::Tcp {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn parses_every_form_of_the_contract() {
        assert_eq!(
            Address::parse("unix:/tmp/a.sock"),
            Ok(Address::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(
            Address::parse("unix:///tmp/a.sock"),
            Ok(Address::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(Address::parse("127.0.0.1:0"), Ok(tcp("127.0.0.1", 0)));
        assert_eq!(
            Address::parse("tcp://localhost:50051"),
            Ok(tcp("localhost", 50051))
        );
        assert_eq!(Address::parse("[::1]:0"), Ok(tcp("::1", 0)));
        assert_eq!(Address::parse("tcp://[::1]:7"), Ok(tcp("::1", 7)));
    }

    #[test]
    fn formats_back_to_the_contract_syntax() {
        assert_eq!(
            Address::parse("unix:///tmp/a.sock").unwrap().to_string(),
            "unix:/tmp/a.sock"
        );
        assert_eq!(tcp("::1", 9).to_string(), "[::1]:9");
        assert_eq!(
            tcp("127.0.0.1", 9).http_uri().as_deref(),
            Some("http://127.0.0.1:9")
        );
    }

    #[test]
    fn rejects_bad_addresses_with_a_reason() {
        for bad in [
            "",
            "localhost",
            "unix:relative.sock",
            "host:99999",
            ":80",
            "::1:80",
            "tcp://x:y",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("unix:/tmp/{}.sock", "x".repeat(120));
        let err = Address::parse(&long).unwrap_err().to_string();
        assert!(err.contains("at most 107"), "{err}");
        // 107 bytes of path is the longest that fits.
        let fits = format!("unix:/{}", "y".repeat(106));
        assert!(Address::parse(&fits).is_ok());
    }
}
