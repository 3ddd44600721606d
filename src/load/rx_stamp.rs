//! The system side of receive times: asking Linux to stamp what a socket receives
//! (`SO_TIMESTAMPNS`), reading with `recvmsg` to get the stamp, and keeping stamping switched on.
//! The socket calls and the control-message walk are nix's.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, RawFd};

/// Linux stamps received packets only while some socket asks for it, and turns stamping on and off
/// a moment after the first such socket opens or the last one closes. Against a server that closes
/// its connection after every response (llama-server), the runner's sockets alone would leave
/// gaps. One idle socket that asks for stamps, held for the life of the process, keeps it on.
pub(super) fn keep_timestamps_on() {
    static ANCHOR: std::sync::OnceLock<Option<std::net::UdpSocket>> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
        enable_rx_timestamps(&s).ok()?;
        Some(s)
    });
}

#[cfg(target_os = "linux")]
pub(super) fn enable_rx_timestamps(socket: &impl AsFd) -> io::Result<()> {
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn enable_rx_timestamps(_socket: &impl AsFd) -> io::Result<()> {
    Ok(())
}

/// Room for the control message that carries one receive time; made once per connection.
pub(super) fn control_space() -> Vec<u8> {
    nix::cmsg_space!(nix::sys::time::TimeSpec)
}

/// One `recvmsg` into `dst`: the bytes read, and the kernel's receive time (ns since the epoch) of
/// the last of them when it came along. `control` is [`control_space`]'s buffer.
pub(super) fn recv_stamped(fd: RawFd, dst: &mut [u8], control: &mut Vec<u8>) -> io::Result<(usize, Option<u64>)> {
    use nix::sys::socket::{recvmsg, MsgFlags};
    let mut iov = [IoSliceMut::new(dst)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(control), MsgFlags::empty()).map_err(io::Error::from)?;
    // A truncated control buffer (cmsgs() errs) only loses the stamp, never the bytes.
    let stamp = msg.cmsgs().ok().and_then(|mut c| c.find_map(stamp_of)).filter(|&ns| ns > 0);
    Ok((msg.bytes, stamp))
}

#[cfg(target_os = "linux")]
fn stamp_of(c: nix::sys::socket::ControlMessageOwned) -> Option<u64> {
    match c {
        nix::sys::socket::ControlMessageOwned::ScmTimestampns(ts) => Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn stamp_of(_c: nix::sys::socket::ControlMessageOwned) -> Option<u64> {
    None
}
