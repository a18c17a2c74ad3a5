//! The status record: addresses from the socket, the state, windows, RTT
//! and progress counters from TCP_INFO, unacked bytes from SIOCOUTQ and
//! unread bytes from SIOCINQ.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::Socket;

use super::codes::TcpState;
use crate::error::Result;
use crate::sys::{self, syscall};

/// A snapshot of a stream's connection. With no connection, everything is
/// zero and the state is [`TcpState::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub state: TcpState,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// IP_TOS (IPv4) or IPV6_TCLASS (IPv6).
    pub tos: u8,
    /// The peer's advertised receive window, in bytes (tcpi_snd_wnd).
    pub send_window: u32,
    /// Our advertised receive window, in bytes (tcpi_rcv_wnd).
    pub receive_window: u32,
    /// Bytes sent and not yet acknowledged, FIN included (SIOCOUTQ).
    pub unacked_bytes: u32,
    /// Bytes received and not yet read (SIOCINQ).
    pub unread_bytes: u32,
    /// The congestion window, in segments (tcpi_snd_cwnd).
    pub congestion_window: u32,
    /// Smoothed round-trip time, microseconds (tcpi_rtt).
    pub smoothed_rtt_us: u32,
    /// Round-trip time variance, microseconds (tcpi_rttvar).
    pub rtt_variance_us: u32,
    /// Smallest round-trip time seen, microseconds (tcpi_min_rtt). Linux
    /// keeps no "last sample"; this and the variance stand in for it.
    pub min_rtt_us: u32,
    /// Maximum segment size for sending (tcpi_snd_mss).
    pub max_segment_size: u32,
    /// Bytes sent, retransmissions included (tcpi_bytes_sent): the send
    /// sequence number relative to the initial one.
    pub bytes_sent: u64,
    /// Bytes the peer acknowledged: our data, and our FIN as one; the SYN
    /// is not counted, whichever side opened (tcpi_bytes_acked less what
    /// it counted when the connection was established).
    pub bytes_acked: u64,
    /// Bytes received in order (tcpi_bytes_received): the receive sequence
    /// number relative to the peer's initial one (the peer's FIN counts
    /// as one, as a sequence number does).
    pub bytes_received: u64,
}

impl Status {
    pub(crate) fn closed() -> Status {
        Status {
            state: TcpState::Closed,
            local: None,
            remote: None,
            tos: 0,
            send_window: 0,
            receive_window: 0,
            unacked_bytes: 0,
            unread_bytes: 0,
            congestion_window: 0,
            smoothed_rtt_us: 0,
            rtt_variance_us: 0,
            min_rtt_us: 0,
            max_segment_size: 0,
            bytes_sent: 0,
            bytes_acked: 0,
            bytes_received: 0,
        }
    }
}

/// Linux's `struct tcp_info` up to tcpi_rcv_wnd (kernel 6.2+). Older
/// kernels fill less; what they leave out stays zero.
#[repr(C)]
#[derive(Default)]
struct TcpInfo {
    state: u8,
    ca_state: u8,
    retransmits: u8,
    probes: u8,
    backoff: u8,
    options: u8,
    wscale: u8,
    flags: u8,
    rto: u32,
    ato: u32,
    snd_mss: u32,
    rcv_mss: u32,
    unacked: u32,
    sacked: u32,
    lost: u32,
    retrans: u32,
    fackets: u32,
    last_data_sent: u32,
    last_ack_sent: u32,
    last_data_recv: u32,
    last_ack_recv: u32,
    pmtu: u32,
    rcv_ssthresh: u32,
    rtt: u32,
    rttvar: u32,
    snd_ssthresh: u32,
    snd_cwnd: u32,
    advmss: u32,
    reordering: u32,
    rcv_rtt: u32,
    rcv_space: u32,
    total_retrans: u32,
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
    data_segs_in: u32,
    data_segs_out: u32,
    delivery_rate: u64,
    busy_time: u64,
    rwnd_limited: u64,
    sndbuf_limited: u64,
    delivered: u32,
    delivered_ce: u32,
    bytes_sent: u64,
    bytes_retrans: u64,
    dsack_dups: u32,
    reord_seen: u32,
    rcv_ooopack: u32,
    snd_wnd: u32,
    rcv_wnd: u32,
}

fn tcp_info(fd: RawFd) -> std::io::Result<TcpInfo> {
    let mut info = TcpInfo::default();
    let mut len = std::mem::size_of::<TcpInfo>() as libc::socklen_t;
    syscall!(getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info as *mut TcpInfo as *mut libc::c_void, &mut len))?;
    Ok(info)
}

fn int_option(fd: RawFd, level: i32, name: i32) -> std::io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    syscall!(getsockopt(fd, level, name, &mut v as *mut libc::c_int as *mut libc::c_void, &mut len))?;
    Ok(v)
}

/// The connection's state.
pub(crate) fn tcp_state(fd: RawFd) -> Result<TcpState> {
    Ok(TcpState::from_linux(tcp_info(fd)?.state))
}

/// tcpi_bytes_acked, and the milliseconds since the last ACK came
/// (tcpi_last_ack_recv).
pub(crate) fn ack_progress(fd: RawFd) -> std::io::Result<(u64, u32)> {
    let info = tcp_info(fd)?;
    Ok((info.bytes_acked, info.last_ack_recv))
}

/// What the kernel counts as acknowledged now (tcpi_bytes_acked).
pub(crate) fn bytes_acked(sock: &Socket) -> Result<u64> {
    Ok(tcp_info(sock.as_raw_fd())?.bytes_acked)
}

/// Reads the status of a connected socket; `acked_base` is what the kernel
/// counted as acknowledged when the connection was established.
pub(crate) fn read(sock: &Socket, acked_base: u64) -> Result<Status> {
    let fd = sock.as_raw_fd();
    let info = tcp_info(fd)?;
    let local = sock.local_addr().ok().and_then(|a| a.as_socket());
    let remote = sock.peer_addr().ok().and_then(|a| a.as_socket());
    let tos = match local {
        Some(SocketAddr::V6(_)) => int_option(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
        _ => int_option(fd, libc::IPPROTO_IP, libc::IP_TOS),
    }
    .unwrap_or(0);
    let state = TcpState::from_linux(info.state);
    // SIOCOUTQ/SIOCINQ fail on a listening socket only; count that as 0.
    let unacked = sys::outq(fd).unwrap_or(0);
    let unread = sys::inq(fd).unwrap_or(0);
    Ok(Status {
        state,
        local,
        remote,
        tos: tos as u8,
        send_window: info.snd_wnd,
        receive_window: info.rcv_wnd,
        unacked_bytes: unacked as u32,
        unread_bytes: unread as u32,
        congestion_window: info.snd_cwnd,
        smoothed_rtt_us: info.rtt,
        rtt_variance_us: info.rttvar,
        min_rtt_us: info.min_rtt,
        max_segment_size: info.snd_mss,
        bytes_sent: info.bytes_sent,
        bytes_acked: info.bytes_acked.saturating_sub(acked_base),
        bytes_received: info.bytes_received,
    })
}
