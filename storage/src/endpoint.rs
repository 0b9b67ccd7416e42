//! Which addresses a credentials file's `end_point` may make this service connect to.
//!
//! The end point of a batch request is chosen by whoever sends the request, and the service
//! connects to it from inside the deployment: without a policy it would reach the cloud's
//! metadata service (169.254.169.254, `fd00:ec2::254`), services listening on loopback, the
//! service's own REST API, and tell from the job's error which of them answered.
//!
//! # The policy
//!
//! An address is checked after every DNS resolution, by the DNS resolver of the S3 client's
//! own HTTP client: the addresses checked are the addresses connected to, so a name that
//! resolves to a public address when a job is created and to 169.254.169.254 later (DNS
//! rebinding) is refused at the later connection. The S3 client therefore connects directly:
//! it does not use `HTTPS_PROXY`/`HTTP_PROXY`, since a proxy would resolve names where the
//! policy cannot see them. An end point whose host is an IP
//! address is checked once in [`crate::Bucket::connect`] (the HTTP client connects to an IP
//! literal without resolving it). IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible, NAT64
//! (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses are judged as the IPv4 address they carry.
//! Of a name's addresses, the refused ones are dropped (and logged); the end point is refused
//! when none is left.
//!
//! In this order, an address is
//!
//! 1. refused when it is one of the service's own listening addresses
//!    ([`EndpointPolicy::deny_listener`]: the REST API, whatever the allow-list says);
//! 2. allowed when an allow-list entry matches it ([`AllowEntry`]: `--endpoint-allow`,
//!    `SPEECHBATCH_ENDPOINT_ALLOW`, and what the service adds itself with
//!    [`EndpointPolicy::allow_listener`], such as the embedded S3 endpoint);
//! 3. refused when it is link-local (169.254.0.0/16, `fe80::/10`: cloud metadata services),
//!    unspecified or "this network" (0.0.0.0/8, `::`), multicast, the broadcast address,
//!    reserved (240.0.0.0/4), or a known cloud metadata or host-agent address outside those
//!    ranges (`fd00:ec2::254`, `fd00:ec2::23`, 100.100.100.200, 168.63.129.16);
//! 4. with [`EndpointPolicy::deny_private`] (`--endpoint-deny-private`, for deployments whose
//!    object stores are all public), refused when it is loopback (127.0.0.0/8, `::1`), private
//!    (10/8, 172.16/12, 192.168/16, 100.64/10, 192.0.0.0/24, 198.18/15, `fc00::/7`,
//!    `fec0::/10`) or an address of this host (an address a socket can be bound to here). Off
//!    by default: a self-hosted object store usually runs on this machine or a private
//!    network, and the service's own listeners are refused by rule 1 in any case;
//! 5. allowed otherwise.
//!
//! End points that the operator configures rather than a user (the model store) are allowed
//! as they are ([`EndpointPolicy::allow_end_point`]).
//!
//! A refused end point fails the job with a permanent error that says only that the end point
//! is not allowed by the service's policy and how an operator allows it ([`refused_message`]);
//! which rule refused which address goes to the log.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};

/// The flag that adds entries to the allow-list.
pub const ALLOW_FLAG: &str = "--endpoint-allow";
/// The environment variable of [`ALLOW_FLAG`] (comma-separated entries).
pub const ALLOW_ENV: &str = "SPEECHBATCH_ENDPOINT_ALLOW";
/// The flag that refuses private addresses too.
pub const DENY_PRIVATE_FLAG: &str = "--endpoint-deny-private";
/// The environment variable of [`DENY_PRIVATE_FLAG`].
pub const DENY_PRIVATE_ENV: &str = "SPEECHBATCH_ENDPOINT_DENY_PRIVATE";

/// The message of a refused end point, for users: it names the end point and how an operator
/// allows it, and nothing else (not the address it resolved to, not the rule).
pub fn refused_message(end_point: &str) -> String {
    format!(
        "The end point {end_point} is not allowed by this service's policy for storage end points: \
         an operator can allow it with {ALLOW_FLAG} (or {ALLOW_ENV})"
    )
}

/// The classes of addresses the policy tells apart ([`classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Anything not below: allowed.
    Public,
    /// RFC 1918, shared address space (100.64/10), 192.0.0.0/24, benchmarking (198.18/15),
    /// unique-local and site-local IPv6: allowed unless private addresses are denied.
    Private,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// 169.254.0.0/16, `fe80::/10`.
    LinkLocal,
    /// 0.0.0.0/8 ("this network"; 0.0.0.0 reaches this host), `::`.
    Unspecified,
    /// 224.0.0.0/4, `ff00::/8`.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240.0.0.0/4 (reserved), except the broadcast address.
    Reserved,
    /// Cloud metadata and host-agent addresses outside the ranges above (`fd00:ec2::254`,
    /// `fd00:ec2::23`, 100.100.100.200, 168.63.129.16).
    Metadata,
}

impl AddressClass {
    /// Whether the default policy refuses this class (loopback and private addresses are
    /// refused only with [`EndpointPolicy::deny_private`]).
    pub fn is_refused_by_default(self) -> bool {
        !matches!(
            self,
            AddressClass::Public | AddressClass::Private | AddressClass::Loopback
        )
    }
}

/// Cloud metadata and host-agent addresses that the ranges do not cover: AWS IMDS and EKS Pod
/// Identity over IPv6, Alibaba Cloud's metadata service, Azure's WireServer.
const METADATA: [IpAddr; 4] = [
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
];

/// The address an address reaches: IPv4-mapped, IPv4-compatible, NAT64 (`64:ff9b::/96`) and
/// 6to4 (`2002::/16`) IPv6 addresses are the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| {
        IpAddr::V4(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        ))
    };
    match s {
        // IPv4-compatible (deprecated), but not :: and ::1 themselves.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => embedded(hi, lo),
        // NAT64 well-known prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        _ => ip,
    }
}

/// The class of an address, after [`canonical`]. Pure: whether the address belongs to this
/// host is a separate check.
pub fn classify(ip: IpAddr) -> AddressClass {
    let ip = canonical(ip);
    if METADATA.contains(&ip) {
        return AddressClass::Metadata;
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            if a == 0 {
                AddressClass::Unspecified
            } else if v4.is_loopback() {
                AddressClass::Loopback
            } else if v4.is_link_local() {
                AddressClass::LinkLocal
            } else if v4.is_broadcast() {
                AddressClass::Broadcast
            } else if v4.is_multicast() {
                AddressClass::Multicast
            } else if a >= 240 {
                AddressClass::Reserved
            } else if v4.is_private()
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
            {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_unspecified() {
                AddressClass::Unspecified
            } else if v6.is_loopback() {
                AddressClass::Loopback
            } else if first & 0xffc0 == 0xfe80 {
                AddressClass::LinkLocal
            } else if v6.is_multicast() {
                AddressClass::Multicast
            } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
                AddressClass::Private
            } else {
                AddressClass::Public
            }
        }
    }
}

/// Why an address was refused (for the log, never for users).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// One of the service's own listening addresses.
    OwnListener(SocketAddr),
    /// Its class is refused ([`AddressClass::is_refused_by_default`]).
    Class(AddressClass),
    /// A private address, with private addresses denied.
    Private,
    /// An address of this host.
    ThisHost,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OwnListener(a) => write!(f, "the service's own listening address {a}"),
            Refusal::Class(c) => write!(f, "{c:?} address"),
            Refusal::Private => write!(f, "private address, and private addresses are denied"),
            Refusal::ThisHost => write!(f, "an address of this host"),
        }
    }
}

/// One entry of the allow-list, as written in `--endpoint-allow`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowEntry {
    /// `10.0.0.0/8`, `fd12::/16`, or one address (`127.0.0.1`, `::1`): every port.
    Net {
        /// The network's address.
        addr: IpAddr,
        /// Its prefix length (32 or 128 for one address).
        prefix: u8,
    },
    /// `127.0.0.1:9000`, `[::1]:9000`: that address and port. An unspecified address
    /// (`0.0.0.0:9000`, `[::]:9000`) means what a server listening there serves: every
    /// address of this host (loopback included) at that port (`0.0.0.0`: IPv4 only).
    Socket(SocketAddr),
    /// `minio.internal:9000`: an end point with this host name and port, whatever it resolves
    /// to (the operator vouches for the name).
    Host {
        /// The host name, lower case, without a trailing dot.
        name: String,
        /// The port.
        port: u16,
    },
}

impl FromStr for AllowEntry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || {
            format!(
                "'{s}' is not an end point allow-list entry: give an address range (10.0.0.0/8, \
                 fd00::/8), an address (127.0.0.1, ::1), an address and port (127.0.0.1:9000, \
                 [::1]:9000) or a host name and port (minio.internal:9000)"
            )
        };
        if let Some((addr, prefix)) = s.split_once('/') {
            let addr: IpAddr = addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix.parse().map_err(|_| bad())?;
            if prefix > max {
                return Err(bad());
            }
            return Ok(AllowEntry::Net { addr, prefix });
        }
        if let Ok(addr) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            return Ok(AllowEntry::Net { addr, prefix });
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(AllowEntry::Socket(addr));
        }
        let (name, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(AllowEntry::Host { name, port })
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowEntry::Net { addr, prefix } => write!(f, "{addr}/{prefix}"),
            AllowEntry::Socket(a) => write!(f, "{a}"),
            AllowEntry::Host { name, port } => write!(f, "{name}:{port}"),
        }
    }
}

/// Whether `ip` lies in `net/prefix` (both families compared as they are).
fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether a server listening on `listener` serves `ip` (at the listener's port): the same
/// address, or, for an unspecified listener, any address of this host (`0.0.0.0`: IPv4 ones).
fn serves(listener: SocketAddr, ip: IpAddr) -> bool {
    let l = canonical(listener.ip());
    if l.is_unspecified() {
        let family_ok = l.is_ipv6() || ip.is_ipv4();
        family_ok && (ip.is_unspecified() || is_this_host(ip))
    } else {
        l == ip
    }
}

impl AllowEntry {
    /// Whether the entry allows connecting to `ip` (canonical) at `port` (`None`: the port is
    /// not known, as for a proxy's address; only address ranges match then).
    fn allows(&self, ip: IpAddr, port: Option<u16>) -> bool {
        match self {
            AllowEntry::Net { addr, prefix } => in_net(ip, canonical(*addr), *prefix),
            AllowEntry::Socket(a) => Some(a.port()) == port && serves(*a, ip),
            AllowEntry::Host { .. } => false,
        }
    }
}

/// Which end points the service may connect to (see the module documentation for the rules).
/// [`EndpointPolicy::default`] is the policy without allow-list entries and without own
/// listeners: link-local, unspecified, multicast, broadcast, reserved and metadata addresses
/// refused; loopback, this host's, private and public ones allowed (the first three refused too
/// with [`EndpointPolicy::deny_private`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    allow: Vec<AllowEntry>,
    own: Vec<SocketAddr>,
    deny_private: bool,
}

/// An end point refused by the policy. `Display` gives the detail for the log (the addresses
/// and rules); users see [`refused_message`] instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("end point host {host} refused by the end point policy: {}", describe(.refused))]
pub struct EndpointRefused {
    /// The host as written in the end point (a name or an address).
    pub host: String,
    /// Each address it stands for, with the rule that refused it.
    pub refused: Vec<(IpAddr, Refusal)>,
}

fn describe(refused: &[(IpAddr, Refusal)]) -> String {
    refused
        .iter()
        .map(|(ip, why)| format!("{ip} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a name did not resolve to an allowed address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name does not resolve (the resolver's error).
    #[error("cannot resolve {name}: {source}")]
    Lookup {
        /// The name.
        name: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// Every address of the name is refused.
    #[error(transparent)]
    Refused(#[from] EndpointRefused),
}

/// The host of an end point URL, for the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EndpointHost {
    /// An IP address (already checked and allowed).
    Ip(IpAddr),
    /// A name, checked at each resolution; `vouched` when an allow-list entry names it.
    Name {
        /// Lower case, without a trailing dot.
        name: String,
        /// Whether a `host:port` entry of the allow-list names it with this port.
        vouched: bool,
    },
}

impl EndpointPolicy {
    /// The default policy ([`EndpointPolicy::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an allow-list entry.
    pub fn allow(mut self, entry: AllowEntry) -> Self {
        if !self.allow.contains(&entry) {
            self.allow.push(entry);
        }
        self
    }

    /// Allows the address of a server of this service that buckets may live on: the embedded
    /// S3 endpoint's listening address (an unspecified address allows every address of this
    /// host at its port).
    pub fn allow_listener(self, addr: SocketAddr) -> Self {
        self.allow(AllowEntry::Socket(addr))
    }

    /// Allows one end point URL that the operator configured (such as the model store's), not a
    /// user: its host and port as an entry (an address and port, or a host name and port). An
    /// end point that does not parse is left out (connecting to it fails on its own).
    pub fn allow_end_point(self, end_point: &str) -> Self {
        let Ok(url) = reqwest::Url::parse(end_point) else {
            return self;
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return self;
        };
        match format!("{host}:{port}").parse() {
            Ok(entry) => self.allow(entry),
            Err(_) => self,
        }
    }

    /// Refuses one of the service's own listening addresses (the REST API), whatever the
    /// allow-list says (an unspecified address refuses every address of this host at its port).
    pub fn deny_listener(mut self, addr: SocketAddr) -> Self {
        if !self.own.contains(&addr) {
            self.own.push(addr);
        }
        self
    }

    /// Refuses private addresses too (cloud deployments where users must not reach the
    /// deployment's own network; allow the internal object store by entry).
    pub fn deny_private(mut self, deny: bool) -> Self {
        self.deny_private = deny;
        self
    }

    /// The allow-list entries.
    pub fn allowed(&self) -> &[AllowEntry] {
        &self.allow
    }

    /// Whether the service may connect to `ip` at `port` (`None`: the port is unknown, as for
    /// a proxy; own listeners then match by address alone and only address-range entries
    /// allow).
    pub fn check(&self, ip: IpAddr, port: Option<u16>) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if let Some(own) = self
            .own
            .iter()
            .find(|l| port.is_none_or(|p| p == l.port()) && serves(**l, ip))
        {
            return Err(Refusal::OwnListener(*own));
        }
        if self.allow.iter().any(|e| e.allows(ip, port)) {
            return Ok(());
        }
        match classify(ip) {
            AddressClass::Public => {}
            AddressClass::Private if self.deny_private => return Err(Refusal::Private),
            AddressClass::Loopback if self.deny_private => {
                return Err(Refusal::Class(AddressClass::Loopback))
            }
            AddressClass::Private | AddressClass::Loopback => {}
            class => return Err(Refusal::Class(class)),
        }
        if self.deny_private && is_this_host(ip) {
            return Err(Refusal::ThisHost);
        }
        Ok(())
    }

    /// Checks the host of an end point URL whose host is `host` (as the URL parser gives it:
    /// IPv6 in brackets) and whose port is `port`: an IP address is checked now; a name is
    /// checked at each resolution ([`EndpointPolicy::resolve`]).
    pub(crate) fn check_host(
        &self,
        host: &str,
        port: u16,
    ) -> Result<EndpointHost, EndpointRefused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return match self.check(ip, Some(port)) {
                Ok(()) => Ok(EndpointHost::Ip(ip)),
                Err(why) => {
                    let refused = EndpointRefused {
                        host: host.to_owned(),
                        refused: vec![(ip, why)],
                    };
                    tracing::warn!(%refused, port, "storage end point refused");
                    Err(refused)
                }
            };
        }
        let name = normalize_name(host);
        let vouched = self.vouches(&name, Some(port));
        Ok(EndpointHost::Name { name, vouched })
    }

    /// Whether a `host:port` entry names `name` (normalised) at `port`.
    fn vouches(&self, name: &str, port: Option<u16>) -> bool {
        self.allow.iter().any(
            |e| matches!(e, AllowEntry::Host { name: n, port: p } if n == name && Some(*p) == port),
        )
    }

    /// Resolves `name` (all its addresses) and keeps those the policy allows at `port` (see
    /// [`EndpointPolicy::check`]); the dropped ones are logged. Errs when the name does not
    /// resolve or no address is left. A name vouched for by a `host:port` entry keeps every
    /// address but the service's own listeners.
    pub async fn resolve(
        &self,
        name: &str,
        port: Option<u16>,
    ) -> Result<Vec<IpAddr>, ResolveError> {
        let normalized = normalize_name(name);
        let lookup = |source| ResolveError::Lookup {
            name: name.to_owned(),
            source,
        };
        let found: Vec<IpAddr> = tokio::net::lookup_host((name, port.unwrap_or(0)))
            .await
            .map_err(lookup)?
            .map(|a| a.ip())
            .collect();
        if found.is_empty() {
            return Err(lookup(std::io::Error::other("no addresses")));
        }
        let vouched = self.vouches(&normalized, port);
        let mut kept = Vec::new();
        let mut refused = Vec::new();
        for ip in found {
            let verdict = if vouched {
                match self.check(ip, port) {
                    Err(own @ Refusal::OwnListener(_)) => Err(own),
                    _ => Ok(()),
                }
            } else {
                self.check(ip, port)
            };
            match verdict {
                Ok(()) if !kept.contains(&ip) => kept.push(ip),
                Ok(()) => {}
                Err(why) => refused.push((ip, why)),
            }
        }
        let refused = EndpointRefused {
            host: name.to_owned(),
            refused,
        };
        if kept.is_empty() {
            tracing::warn!(%refused, ?port, "storage end point refused");
            return Err(refused.into());
        }
        if !refused.refused.is_empty() {
            tracing::warn!(%refused, ?port, kept = ?kept, "storage end point addresses dropped");
        }
        Ok(kept)
    }
}

/// A host name as compared with allow-list entries: lower case, without a trailing dot.
fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `ip` is an address of this host: loopback, or an address a socket can be bound to
/// here. When the system lets sockets bind to any address (`ip_nonlocal_bind`), only loopback
/// counts.
fn is_this_host(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    if ip.is_loopback() || ip.is_unspecified() {
        return true;
    }
    let bindable = |ip: IpAddr| UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok();
    // Documentation addresses are never assigned: when one binds, any address would.
    static PROBE_V4: OnceLock<bool> = OnceLock::new();
    static PROBE_V6: OnceLock<bool> = OnceLock::new();
    let probe_works = match ip {
        IpAddr::V4(_) => *PROBE_V4.get_or_init(|| {
            let works = !bindable(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
            if !works {
                tracing::warn!("IPv4 sockets bind to any address here (ip_nonlocal_bind): the end point policy treats only loopback as this host");
            }
            works
        }),
        IpAddr::V6(_) => *PROBE_V6.get_or_init(|| {
            let works = !bindable(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
            if !works {
                tracing::warn!("IPv6 sockets bind to any address here (ip_nonlocal_bind): the end point policy treats only loopback as this host");
            }
            works
        }),
    };
    probe_works && bindable(ip)
}

/// The S3 client's DNS resolver: every resolution of the end point's name goes through the
/// policy, so the client connects only to allowed addresses (see the module documentation).
/// Names other than the end point's own (a proxy from `HTTPS_PROXY`) are checked without a
/// port.
#[derive(Clone, Debug)]
pub(crate) struct PolicyResolver {
    policy: Arc<EndpointPolicy>,
    /// The end point's host name, normalised.
    host: String,
    /// The end point's port.
    port: u16,
}

impl PolicyResolver {
    pub(crate) fn new(policy: Arc<EndpointPolicy>, host: String, port: u16) -> Self {
        PolicyResolver { policy, host, port }
    }
}

impl ResolveDns for PolicyResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        DnsFuture::new(async move {
            let port = (normalize_name(name) == self.host).then_some(self.port);
            // The refusal itself is the error's source, for `Bucket` to find in the chain.
            self.policy.resolve(name, port).await.map_err(|e| match e {
                ResolveError::Refused(refused) => ResolveDnsError::new(refused),
                lookup => ResolveDnsError::new(lookup),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        use AddressClass::*;
        for (addr, class) in [
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("::1", Loopback),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("::", Unspecified),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("ff02::1", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("fd00:ec2::254", Metadata),
            ("fd00:ec2::23", Metadata),
            ("100.100.100.200", Metadata),
            ("168.63.129.16", Metadata),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("198.18.0.1", Private),
            ("fd12:3456::1", Private),
            ("fc00::1", Private),
            ("fec0::1", Private),
            ("8.8.8.8", Public),
            ("172.32.0.1", Public),
            ("100.128.0.1", Public),
            ("2606:4700::1111", Public),
        ] {
            assert_eq!(classify(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_as_ipv4() {
        use AddressClass::*;
        for (addr, class) in [
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:255.255.255.255", Broadcast),
            ("::ffff:224.0.0.1", Multicast),
            ("::ffff:10.0.0.1", Private),
            ("::169.254.169.254", LinkLocal),
            ("::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::7f00:1", Loopback),
            ("2002:a9fe:a9fe::1", LinkLocal),
            ("2002:7f00:1::", Loopback),
            ("::ffff:8.8.8.8", Public),
            ("64:ff9b::808:808", Public),
        ] {
            assert_eq!(classify(ip(addr)), class, "{addr}");
        }
        assert_eq!(canonical(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(canonical(ip("::1")), ip("::1"));
        assert_eq!(canonical(ip("::")), ip("::"));
    }

    #[test]
    fn the_default_policy_refuses_what_reaches_inside_and_allows_the_rest() {
        let p = EndpointPolicy::default();
        let strict = EndpointPolicy::default().deny_private(true);
        for bad in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "fd00:ec2::254",
            "100.100.100.200",
        ] {
            assert!(p.check(ip(bad), Some(80)).is_err(), "{bad}");
            assert!(p.check(ip(bad), None).is_err(), "{bad}");
            assert!(strict.check(ip(bad), Some(80)).is_err(), "{bad}");
        }
        // Loopback: allowed by default (a self-hosted object store on this machine), refused
        // with private addresses denied, in every form.
        for lo in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert_eq!(p.check(ip(lo), Some(9000)), Ok(()), "{lo}");
            assert_eq!(p.check(ip(lo), None), Ok(()), "{lo}");
            assert_eq!(
                strict.check(ip(lo), Some(9000)),
                Err(Refusal::Class(AddressClass::Loopback)),
                "{lo}"
            );
        }
        // Documentation addresses: public, never this host's.
        for good in [
            "10.0.0.1",
            "192.168.0.10",
            "fd12::1",
            "203.0.113.7",
            "2001:db8::7",
        ] {
            assert_eq!(p.check(ip(good), Some(443)), Ok(()), "{good}");
        }
        assert_eq!(
            strict.check(ip("10.0.0.1"), Some(443)),
            Err(Refusal::Private)
        );
        assert_eq!(
            strict.check(ip("::ffff:192.168.0.1"), Some(443)),
            Err(Refusal::Private)
        );
        assert_eq!(strict.check(ip("203.0.113.7"), Some(443)), Ok(()));
        assert_eq!(strict.check(ip("2001:db8::7"), Some(443)), Ok(()));
    }

    /// A non-loopback address of this host, if it has one with a route out (a UDP `connect`
    /// sends nothing).
    fn own_address() -> Option<IpAddr> {
        let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
        socket.connect("203.0.113.1:9").ok()?;
        let ip = socket.local_addr().ok()?.ip();
        (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
    }

    #[test]
    fn addresses_of_this_host_are_allowed_unless_private_addresses_are_denied() {
        let Some(own) = own_address() else {
            eprintln!("no non-loopback address here: skipped");
            return;
        };
        assert_eq!(
            EndpointPolicy::default().check(own, Some(9000)),
            Ok(()),
            "{own}"
        );
        // Private (the usual case) or, for a public address, this host's.
        let why = EndpointPolicy::default()
            .deny_private(true)
            .check(own, Some(9000))
            .unwrap_err();
        assert!(
            matches!(why, Refusal::Private | Refusal::ThisHost),
            "{own}: {why}"
        );
        if classify(own) == AddressClass::Public && is_this_host(own) {
            assert_eq!(why, Refusal::ThisHost, "{own}");
        }
    }

    #[test]
    fn allow_entries_parse_and_match() {
        let e = |s: &str| s.parse::<AllowEntry>().unwrap();
        assert_eq!(
            e("127.0.0.0/8"),
            AllowEntry::Net {
                addr: ip("127.0.0.0"),
                prefix: 8
            }
        );
        assert_eq!(
            e(" ::1 "),
            AllowEntry::Net {
                addr: ip("::1"),
                prefix: 128
            }
        );
        assert_eq!(
            e("[fd00::]/8"),
            AllowEntry::Net {
                addr: ip("fd00::"),
                prefix: 8
            }
        );
        assert_eq!(
            e("127.0.0.1:9000"),
            AllowEntry::Socket("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(
            e("[::1]:9000"),
            AllowEntry::Socket("[::1]:9000".parse().unwrap())
        );
        assert_eq!(
            e("MinIO.internal.:9000"),
            AllowEntry::Host {
                name: "minio.internal".into(),
                port: 9000
            }
        );
        for s in [
            "127.0.0.1/33",
            "::/129",
            "minio",
            "minio:99999",
            "a b:80",
            "",
            ":80",
            "http://x:80",
        ] {
            let err = s.parse::<AllowEntry>().unwrap_err();
            assert!(err.contains("allow-list entry"), "{s}: {err}");
        }
        for s in [
            "10.0.0.0/8",
            "::1/128",
            "127.0.0.1:9000",
            "[::1]:9000",
            "minio.internal:9000",
        ] {
            assert_eq!(e(s).to_string(), s);
        }

        let p = EndpointPolicy::default()
            .allow(e("127.0.0.1:9000"))
            .allow(e("10.9.0.0/16"))
            .allow(e("fe80::/10"))
            .deny_private(true);
        assert_eq!(p.check(ip("127.0.0.1"), Some(9000)), Ok(()));
        assert_eq!(p.check(ip("::ffff:127.0.0.1"), Some(9000)), Ok(()));
        assert_eq!(
            p.check(ip("127.0.0.1"), Some(9001)),
            Err(Refusal::Class(AddressClass::Loopback))
        );
        assert!(p.check(ip("127.0.0.1"), None).is_err(), "port unknown");
        assert!(p.check(ip("::1"), Some(9000)).is_err());
        assert_eq!(p.check(ip("10.9.200.1"), Some(1)), Ok(()));
        assert_eq!(p.check(ip("10.9.200.1"), None), Ok(()));
        assert_eq!(p.check(ip("10.10.0.1"), Some(1)), Err(Refusal::Private));
        assert_eq!(
            p.check(ip("fe80::2"), Some(1)),
            Ok(()),
            "explicitly allowed"
        );
    }

    #[test]
    fn own_listeners_are_refused_even_when_allowed() {
        let api: SocketAddr = "127.0.0.1:1080".parse().unwrap();
        let p = EndpointPolicy::default()
            .allow("127.0.0.0/8".parse().unwrap())
            .deny_listener(api);
        assert_eq!(p.check(ip("127.0.0.1"), Some(9000)), Ok(()));
        assert_eq!(
            p.check(ip("127.0.0.1"), Some(1080)),
            Err(Refusal::OwnListener(api))
        );
        assert_eq!(
            p.check(ip("::ffff:127.0.0.1"), Some(1080)),
            Err(Refusal::OwnListener(api))
        );
        assert_eq!(
            p.check(ip("127.0.0.1"), None),
            Err(Refusal::OwnListener(api))
        );
        // The default policy, which allows loopback, refuses the own listener too.
        let p = EndpointPolicy::default().deny_listener(api);
        assert_eq!(p.check(ip("127.0.0.1"), Some(9000)), Ok(()));
        assert_eq!(
            p.check(ip("127.0.0.1"), Some(1080)),
            Err(Refusal::OwnListener(api))
        );
        // Listening on every address: each address of this host at that port is the service.
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let p = EndpointPolicy::default()
            .allow("0.0.0.0/0".parse().unwrap())
            .deny_listener(any);
        assert_eq!(
            p.check(ip("127.0.0.2"), Some(8080)),
            Err(Refusal::OwnListener(any))
        );
        assert_eq!(
            p.check(ip("0.0.0.0"), Some(8080)),
            Err(Refusal::OwnListener(any))
        );
        assert_eq!(p.check(ip("127.0.0.2"), Some(8081)), Ok(()));
        assert_eq!(
            p.check(ip("203.0.113.9"), Some(8080)),
            Ok(()),
            "not this host"
        );
    }

    #[test]
    fn an_end_point_the_operator_configured_is_allowed_by_its_host_and_port() {
        let p = EndpointPolicy::default()
            .allow_end_point("http://127.0.0.1:9000/")
            .allow_end_point("http://[::1]:9001")
            .allow_end_point("https://Store.Internal")
            .allow_end_point("not a url");
        assert_eq!(
            p.allowed(),
            [
                "127.0.0.1:9000".parse().unwrap(),
                "[::1]:9001".parse().unwrap(),
                "store.internal:443".parse().unwrap(),
            ]
        );
        // Loopback is allowed by default anyway; with private addresses denied only the
        // configured host and port are.
        assert_eq!(p.check(ip("127.0.0.1"), Some(9002)), Ok(()));
        let strict = p.deny_private(true);
        assert_eq!(strict.check(ip("127.0.0.1"), Some(9000)), Ok(()));
        assert_eq!(strict.check(ip("::1"), Some(9001)), Ok(()));
        assert_eq!(
            strict.check(ip("127.0.0.1"), Some(9002)),
            Err(Refusal::Class(AddressClass::Loopback))
        );
        assert_eq!(
            strict.check(ip("::1"), Some(9000)),
            Err(Refusal::Class(AddressClass::Loopback))
        );
        // An operator's end point on a refused address is allowed at its port only.
        let p = EndpointPolicy::default().allow_end_point("http://169.254.169.254:8080");
        assert_eq!(p.check(ip("169.254.169.254"), Some(8080)), Ok(()));
        assert_eq!(
            p.check(ip("169.254.169.254"), Some(80)),
            Err(Refusal::Class(AddressClass::LinkLocal))
        );
    }

    #[test]
    fn an_allowed_listener_on_every_address_allows_this_host_at_its_port() {
        // The default policy refuses the unspecified address, except at the listener's port.
        let p = EndpointPolicy::default().allow_listener("0.0.0.0:9000".parse().unwrap());
        assert_eq!(p.check(ip("0.0.0.0"), Some(9000)), Ok(()));
        assert_eq!(
            p.check(ip("0.0.0.0"), Some(9001)),
            Err(Refusal::Class(AddressClass::Unspecified))
        );
        // With private addresses denied, loopback is allowed only at the listener's port.
        let p = p.deny_private(true);
        assert_eq!(p.check(ip("127.0.0.1"), Some(9000)), Ok(()));
        assert_eq!(p.check(ip("0.0.0.0"), Some(9000)), Ok(()));
        assert_eq!(
            p.check(ip("127.0.0.1"), Some(9001)),
            Err(Refusal::Class(AddressClass::Loopback))
        );
        assert_eq!(
            p.check(ip("::1"), Some(9000)),
            Err(Refusal::Class(AddressClass::Loopback)),
            "0.0.0.0 is IPv4 only"
        );
        let p = EndpointPolicy::default()
            .allow_listener("[::]:9000".parse().unwrap())
            .deny_private(true);
        assert_eq!(p.check(ip("::1"), Some(9000)), Ok(()));
        assert_eq!(p.check(ip("127.0.0.1"), Some(9000)), Ok(()));
        assert!(p.check(ip("::1"), Some(9001)).is_err());
    }

    #[test]
    fn ip_literal_hosts_are_checked_at_once_and_names_later() {
        let p = EndpointPolicy::default().allow("minio.local:9000".parse().unwrap());
        let refused = p.check_host("169.254.169.254", 80).unwrap_err();
        assert_eq!(refused.refused[0].0, ip("169.254.169.254"));
        assert!(refused.to_string().contains("LinkLocal"), "{refused}");
        // Loopback: allowed by default, refused with private addresses denied.
        assert_eq!(p.check_host("[::1]", 9000), Ok(EndpointHost::Ip(ip("::1"))));
        let refused = p
            .clone()
            .deny_private(true)
            .check_host("[::1]", 9000)
            .unwrap_err();
        assert_eq!(
            refused.refused,
            [(ip("::1"), Refusal::Class(AddressClass::Loopback))]
        );
        assert!(p.check_host("[fe80::1]", 9000).is_err());
        assert_eq!(
            p.check_host("[2001:db8::5]", 443),
            Ok(EndpointHost::Ip(ip("2001:db8::5")))
        );
        assert_eq!(
            p.check_host("MinIO.Local.", 9000),
            Ok(EndpointHost::Name {
                name: "minio.local".into(),
                vouched: true
            })
        );
        assert_eq!(
            p.check_host("minio.local", 9001),
            Ok(EndpointHost::Name {
                name: "minio.local".into(),
                vouched: false
            })
        );
    }

    #[tokio::test]
    async fn names_are_resolved_and_refused_addresses_dropped() {
        // Loopback names: allowed by default ...
        let found = EndpointPolicy::default()
            .resolve("localhost", Some(9000))
            .await
            .unwrap();
        assert!(found.contains(&ip("127.0.0.1")), "{found:?}");
        assert!(found.iter().all(|ip| ip.is_loopback()), "{found:?}");
        // ... refused with private addresses denied.
        let strict = EndpointPolicy::default().deny_private(true);
        match strict.resolve("localhost", Some(9000)).await {
            Err(ResolveError::Refused(r)) => {
                assert!(!r.refused.is_empty());
                assert!(r.refused.iter().all(|(ip, _)| ip.is_loopback()), "{r}");
            }
            other => panic!("localhost resolved to {other:?}"),
        }
        // A name's loopback address allowed by port; other loopback addresses dropped.
        let p = strict.clone().allow("127.0.0.1:9000".parse().unwrap());
        assert_eq!(
            p.resolve("localhost", Some(9000)).await.unwrap(),
            [ip("127.0.0.1")]
        );
        // The service's own listener is dropped by the default policy too.
        let left = EndpointPolicy::default()
            .deny_listener("127.0.0.1:9000".parse().unwrap())
            .resolve("localhost", Some(9000))
            .await;
        assert!(
            left.as_ref()
                .map_or(true, |l| !l.contains(&ip("127.0.0.1"))),
            "{left:?}"
        );
        // A vouched name keeps its addresses, except the service's own.
        let p = strict.allow("localhost:9000".parse().unwrap());
        assert!(p
            .resolve("LOCALHOST", Some(9000))
            .await
            .unwrap()
            .contains(&ip("127.0.0.1")));
        let p = p.deny_listener("127.0.0.1:9000".parse().unwrap());
        let left = p.resolve("localhost", Some(9000)).await;
        assert!(
            left.as_ref()
                .map_or(true, |l| !l.contains(&ip("127.0.0.1"))),
            "{left:?}"
        );
        // Literal addresses resolve to themselves and are judged the same way.
        assert!(matches!(
            EndpointPolicy::default()
                .resolve("169.254.169.254", Some(80))
                .await,
            Err(ResolveError::Refused(_))
        ));
    }

    #[test]
    fn the_user_message_says_how_to_allow_and_nothing_else() {
        let m = refused_message("http://169.254.169.254");
        assert!(
            m.contains("http://169.254.169.254")
                && m.contains("not allowed")
                && m.contains("--endpoint-allow")
                && m.contains("SPEECHBATCH_ENDPOINT_ALLOW"),
            "{m}"
        );
        assert!(!m.contains("link") && !m.contains("metadata"), "{m}");
    }
}
