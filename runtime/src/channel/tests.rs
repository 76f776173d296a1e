//! Unit tests of the channel's encoding over a real socketpair.
use super::*;
use std::os::fd::AsFd;

#[test]
fn round_trip_over_a_seqpacket_pair() {
    let (a, b) = sys::seqpacket_pair().expect("socketpair");
    send_error(a.as_fd(), Step::PivotRoot, 22, 3, b"/rootfs");
    send_ready(a.as_fd(), None).expect("ready");
    let mut buf = [0u8; MSG_MAX];
    let n = sys::read(b.as_fd(), &mut buf).expect("read");
    assert_eq!(
        decode(&buf[..n]),
        Some(Message::Error {
            step: Step::PivotRoot,
            errno: 22,
            at: 3,
            detail: b"/rootfs"
        })
    );
    let n = sys::read(b.as_fd(), &mut buf).expect("read");
    assert_eq!(decode(&buf[..n]), Some(Message::Ready));
    for s in Step::ALL {
        assert_eq!(Step::from_u8(s as u8), s);
    }
}
