//! The upload's tests: its decisions and pace from plain values, and whole uploads
//! over in-memory streams and a socket pair.

use super::*;

#[test]
fn decisions() {
    let d = |p, disk, refreshing, asked| decide("f", 5, p, disk, refreshing, asked);
    assert!(matches!(
        d(None, Disk::Same, false, false),
        Decision::Refuse(Status::NO_FILE, _)
    ));
    assert!(matches!(
        d(Some(10), Disk::Missing, false, false),
        Decision::Refuse(Status::NO_FILE, _)
    ));
    assert_eq!(d(Some(10), Disk::Same, false, false), Decision::Serve);
    assert_eq!(d(Some(5), Disk::Same, false, false), Decision::Serve);
    assert!(matches!(
        d(Some(4), Disk::Same, false, false),
        Decision::Refuse(Status::BAD_REQUEST, _)
    ));
    assert_eq!(d(Some(10), Disk::Changed, false, false), Decision::Refresh);
    assert_eq!(d(Some(10), Disk::Changed, true, false), Decision::Wait);
    assert_eq!(d(Some(10), Disk::Changed, true, true), Decision::Wait);
    assert!(matches!(
        d(Some(10), Disk::Changed, false, true),
        Decision::Refuse(Status::UNAVAILABLE, _)
    ));
}
