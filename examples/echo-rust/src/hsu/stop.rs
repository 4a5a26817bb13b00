// Owned by create-hsu-unit: do not edit. `npx create-hsu-unit regen` rewrites
// this folder from the template; your code goes in src/services/ and src/main.rs.

//! What makes a unit stop: a Shutdown call, SIGTERM/SIGINT, or the death of
//! its master (unit contract, sections 5 and 6).

use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

/// The drain deadline for signals (and Shutdown without a deadline).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
/// The drain deadline when the master is gone.
pub const MASTER_DEATH_DEADLINE: Duration = Duration::from_secs(1);
/// How often the master's pid is checked (the contract asks for <= 500 ms).
pub const MASTER_POLL: Duration = Duration::from_millis(250);

/// A request to drain and exit.
#[derive(Debug)]
pub struct StopRequest {
    pub reason: String,
    pub deadline: Duration,
}

/// Every source of a stop, registered at start so that a signal that comes
/// early is not lost (nor handled by the default action, which would kill
/// the unit with a non-zero status).
pub struct StopSources {
    shutdown: mpsc::UnboundedReceiver<StopRequest>,
    sigterm: Signal,
    sigint: Signal,
    master_pid: Option<u32>,
}

impl StopSources {
    /// Registers the signal handlers; Shutdown calls send on the returned sender.
    pub fn register(
        master_pid: Option<u32>,
    ) -> std::io::Result<(StopSources, mpsc::UnboundedSender<StopRequest>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sources = StopSources {
            shutdown: rx,
            sigterm: signal(SignalKind::terminate())?,
            sigint: signal(SignalKind::interrupt())?,
            master_pid,
        };
        Ok((sources, tx))
    }

    /// Resolves with the first stop request from any source.
    pub async fn next(&mut self) -> StopRequest {
        let master_pid = self.master_pid;
        let signal_stop = |name: &str| StopRequest {
            reason: name.to_string(),
            deadline: DEFAULT_DEADLINE,
        };
        tokio::select! {
            Some(request) = self.shutdown.recv() => request,
            _ = self.sigterm.recv() => signal_stop("SIGTERM"),
            _ = self.sigint.recv() => signal_stop("SIGINT"),
            request = watch_master(master_pid) => request,
        }
    }
}

/// True when the master is gone: a process whose parent died is re-parented,
/// so "the master is still my parent" proves it still exists.
pub fn master_gone(parent_pid: u32, master_pid: u32) -> bool {
    parent_pid != master_pid
}

async fn watch_master(master_pid: Option<u32>) -> StopRequest {
    let Some(master_pid) = master_pid else {
        return std::future::pending().await;
    };
    let mut ticks = tokio::time::interval(MASTER_POLL);
    loop {
        ticks.tick().await;
        let parent = std::os::unix::process::parent_id();
        if master_gone(parent, master_pid) {
            return StopRequest {
                reason: format!("master pid {master_pid} is gone (parent is now {parent})"),
                deadline: MASTER_DEATH_DEADLINE,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_is_gone_once_it_is_no_longer_the_parent() {
        assert!(!master_gone(4242, 4242));
        assert!(master_gone(1, 4242));
    }

    #[tokio::test]
    async fn a_shutdown_request_wins() {
        let (mut sources, tx) = StopSources::register(None).unwrap();
        tx.send(StopRequest {
            reason: "test".into(),
            deadline: Duration::from_secs(2),
        })
        .unwrap();
        let request = sources.next().await;
        assert_eq!(
            (request.reason.as_str(), request.deadline),
            ("test", Duration::from_secs(2))
        );
    }
}
