//! Loopback ports for servers that tests start.

use std::net::{SocketAddr, TcpListener};

/// `n` loopback ports that were free a moment ago (all held at once, so they differ).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A loopback address where nothing listens.
pub fn closed_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
