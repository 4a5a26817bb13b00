// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! Binds the listen address: a Unix socket (stale file removed first, own
//! file removed at exit) or a TCP port (port 0 resolved to the real port).

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

use super::address::Address;

/// A bound listener and the address it is actually bound to.
pub enum Bound {
    /// The socket file guard is None for an adopted socket: its file is the master's.
    Unix(UnixListener, Option<SocketFile>),
    Tcp(TcpListener),
}

/// Removes the unit's socket file when dropped, i.e. on every way out.
pub struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.0) {
            if err.kind() != std::io::ErrorKind::NotFound {
                eprintln!("hsu: cannot remove socket file {}: {err}", self.0.display());
            }
        }
    }
}

/// Binds `address` and returns the listener with the address to report.
pub async fn bind(address: &Address) -> Result<(Bound, Address), String> {
    match address {
        Address::Unix(path) => {
            remove_stale_socket(path)?;
            let listener = UnixListener::bind(path).map_err(|e| {
                format!(
                    "cannot listen on {address}: {e}; check that the folder exists and is writable"
                )
            })?;
            Ok((
                Bound::Unix(listener, Some(SocketFile(path.clone()))),
                address.clone(),
            ))
        }
        Address::Tcp { host, port } => {
            let listener = TcpListener::bind((host.as_str(), *port))
                .await
                .map_err(|e| {
                    format!("cannot listen on {address}: {e}; pick a free port or port 0")
                })?;
            let local = listener
                .local_addr()
                .map_err(|e| format!("cannot read the bound address: {e}"))?;
            Ok((
                Bound::Tcp(listener),
                Address::Tcp {
                    host: local.ip().to_string(),
                    port: local.port(),
                },
            ))
        }
    }
}

/// Serves on an inherited listening socket (socket activation); `address` is
/// where it is, as HSU_LISTEN says. The socket file is left in place.
pub fn adopt(fd: i32, address: &Address) -> Result<(Bound, Address), String> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let not_listening = |e: std::io::Error| {
        format!("fd {fd} (socket activation, LISTEN_FDS) is not a listening socket: {e}")
    };
    // SAFETY: fd 3 was passed to this process for this purpose (sd_listen_fds(3)) and nothing else owns it.
    let unix = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    if unix.local_addr().is_ok() {
        unix.set_nonblocking(true).map_err(not_listening)?;
        let listener = UnixListener::from_std(unix).map_err(not_listening)?;
        return Ok((Bound::Unix(listener, None), address.clone()));
    }
    // SAFETY: the same fd, handed back from the Unix listener above without closing it.
    let tcp = unsafe { std::net::TcpListener::from_raw_fd(unix.into_raw_fd()) };
    let local = tcp.local_addr().map_err(not_listening)?;
    tcp.set_nonblocking(true).map_err(not_listening)?;
    let listener = TcpListener::from_std(tcp).map_err(not_listening)?;
    Ok((
        Bound::Tcp(listener),
        Address::Tcp {
            host: local.ip().to_string(),
            port: local.port(),
        },
    ))
}

fn remove_stale_socket(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove the stale socket {}: {e}", path.display())),
        Ok(_) => Err(format!(
            "{} exists and is not a socket; refusing to replace it, choose another HSU_LISTEN path",
            path.display()
        )),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replaces_a_stale_socket_and_removes_its_own() {
        let path =
            std::env::temp_dir().join(format!("hsu-listener-test-{}.sock", std::process::id()));
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale); // the file stays behind, as after a crash
        assert!(path.exists());
        let address = Address::Unix(path.clone());
        let (bound, reported) = bind(&address).await.unwrap();
        assert_eq!(reported, address);
        drop(bound);
        assert!(!path.exists(), "the socket file must be removed");
    }

    #[tokio::test]
    async fn reports_the_real_port_for_port_zero() {
        let (_bound, reported) = bind(&Address::parse("127.0.0.1:0").unwrap()).await.unwrap();
        match reported {
            Address::Tcp { host, port } => assert!(host == "127.0.0.1" && port != 0),
            other => panic!("expected TCP, got {other}"),
        }
    }
}
