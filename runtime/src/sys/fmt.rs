//! Numbers as text without allocating: the init and the parent write pids to procfs and cgroup
//! files from stack buffers.

/// `pid` in decimal, in the tail of `buf` (a negative pid prints as 0).
pub fn format_pid(pid: libc::pid_t, buf: &mut [u8; 16]) -> &[u8] {
    let mut n = pid.max(0) as u32;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_format_without_allocation() {
        let mut b = [0u8; 16];
        assert_eq!(format_pid(1, &mut b), b"1");
        assert_eq!(format_pid(4194304, &mut b), b"4194304");
        assert_eq!(format_pid(-3, &mut b), b"0");
    }
}
