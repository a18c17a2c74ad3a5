//! The numbers MacTCP programs know: notification events, terminate
//! reasons and connection states (SEMANTICS §5 fixes them; keep them).

/// What a notification routine (asr) is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Event {
    /// The peer has closed and all its data has been read.
    Closing = 1,
    /// A close's time limit passed with data still unacknowledged, or the
    /// ULP timeout did with the report action (see [`UlpAction`]).
    UlpTimeout = 2,
    /// The connection is gone; the detail is a [`TerminateReason`].
    Terminate = 3,
    /// Data came while no receive was waiting (once until the next rcv).
    DataArrival = 4,
    /// Urgent data came (once per urgent mark).
    Urgent = 5,
    /// An ICMP error (host or network unreachable, and the like) came for
    /// the connection, which stays open; the detail is the errno it stands
    /// for (EHOSTUNREACH, ENETUNREACH, …).
    IcmpReceived = 6,
    /// A passive open has completed (successfully or not).
    PassiveOpenDone = 32766,
}

/// Why a connection terminated: the detail of [`Event::Terminate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum TerminateReason {
    /// The peer reset the connection, or refused it.
    RemoteAbort = 2,
    /// The network failed (unreachable, keepalive or retransmission timeout).
    NetworkFailure = 3,
    /// The time limit of an active open passed, or data stayed
    /// unacknowledged past the ULP timeout with the abort action.
    UlpTimeout = 5,
    /// We aborted the connection.
    UlpAbort = 6,
    /// Both sides closed gracefully and everything was delivered.
    UlpClose = 7,
    /// Something failed inside marline or the system.
    ServiceError = 8,
}

/// What the ULP timeout does when data stays unacknowledged past it
/// (MacTCP's ulpTimeoutAction, with its numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum UlpAction {
    /// Send ULP_TIMEOUT to the asr and go on; the timeout starts again.
    Report = 0,
    /// End the connection: TERMINATE with [`TerminateReason::UlpTimeout`].
    Abort = 1,
}

/// Connection states as reported by status. CLOSED, LISTEN, ESTABLISHED
/// and CLOSE_WAIT have the numbers SEMANTICS §5 fixes; the others follow
/// MacTCP's even numbering where it does not clash (MacTCP's own numbers
/// put close-wait at 14 and last-ack at 18; §5 moved close-wait to 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum TcpState {
    Closed = 0,
    Listen = 2,
    SynReceived = 4,
    SynSent = 6,
    Established = 8,
    FinWait1 = 10,
    FinWait2 = 12,
    Closing = 16,
    CloseWait = 18,
    TimeWait = 20,
    LastAck = 22,
}

impl TcpState {
    /// Maps Linux's `tcpi_state` (include/net/tcp_states.h).
    pub(crate) fn from_linux(state: u8) -> TcpState {
        match state {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 => TcpState::SynReceived,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            12 => TcpState::SynReceived, // TCP_NEW_SYN_RECV
            _ => TcpState::Closed,       // 7 = TCP_CLOSE
        }
    }
}

/// True for the errnos Linux gives ICMP errors (icmp_err_convert and
/// icmpv6_err_convert): unreachable, refused, prohibited, parameter
/// problem and the like.
pub(crate) fn from_icmp(code: i32) -> bool {
    matches!(
        code,
        libc::ENETUNREACH
            | libc::EHOSTUNREACH
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::ENOPROTOOPT
            | libc::ECONNREFUSED
            | libc::EMSGSIZE
            | libc::EOPNOTSUPP
            | libc::EACCES
            | libc::EPROTO
    )
}

impl TerminateReason {
    /// The reason an OS error stands for.
    pub(crate) fn from_errno(code: i32) -> TerminateReason {
        match code {
            libc::ECONNRESET | libc::ECONNREFUSED | libc::EPIPE | libc::ECONNABORTED => TerminateReason::RemoteAbort,
            libc::ETIMEDOUT | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ENETDOWN | libc::EHOSTDOWN
            | libc::EPROTO => TerminateReason::NetworkFailure,
            _ => TerminateReason::ServiceError,
        }
    }
}
