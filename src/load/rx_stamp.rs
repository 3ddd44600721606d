//! The system side of receive times: asking Linux to stamp what a socket receives
//! (`SO_TIMESTAMPNS`), reading with `recvmsg` to get the stamp, and keeping stamping switched on.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, RawFd};

/// Linux stamps received packets only while some socket asks for it, and turns stamping on and off
/// a moment after the first such socket opens or the last one closes. Against a server that closes
/// its connection after every response (llama-server), the runner's sockets alone would leave
/// gaps. One idle socket that asks for stamps, held for the life of the process, keeps it on.
pub(super) fn keep_timestamps_on() {
    static ANCHOR: std::sync::OnceLock<Option<std::net::UdpSocket>> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
        enable_rx_timestamps(s.as_raw_fd()).ok()?;
        Some(s)
    });
}

#[cfg(target_os = "linux")]
pub(super) fn enable_rx_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and an int-sized option value.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn enable_rx_timestamps(_fd: RawFd) -> io::Result<()> {
    Ok(())
}

/// One `recvmsg` into `dst`: the bytes read, and the kernel's receive time (ns since the epoch) of
/// the last of them when it came along.
pub(super) fn recv_stamped(fd: RawFd, dst: &mut [MaybeUninit<u8>]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec { iov_base: dst.as_mut_ptr().cast(), iov_len: dst.len() };
    // Room for a control message carrying a timespec, aligned as `cmsghdr` needs.
    let mut control = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid (no name, no buffers) before the fields below are set.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, rx_stamp(&msg)))
}

#[cfg(target_os = "linux")]
fn rx_stamp(msg: &libc::msghdr) -> Option<u64> {
    let mut stamp = None;
    // SAFETY: the kernel filled `msg`'s control buffer; the CMSG macros stay within
    // `msg_controllen`, and the timespec is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    stamp.filter(|&ns| ns > 0)
}

#[cfg(not(target_os = "linux"))]
fn rx_stamp(_msg: &libc::msghdr) -> Option<u64> {
    None
}
