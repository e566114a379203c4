//! The swarm's plan from plain values and simulated time: segment sizes, disjoint
//! segments that cover the file and shrink at the end, a resume that skips what is
//! verified, a holder that drops out, and the overlap of a segment that falls behind
//! (and each of the rule's three conditions that keeps it from happening).

use super::*;

const MIB: u64 = 1 << 20;

#[test]
fn segments_are_sized_by_the_file_and_small_files_are_one_piece() {
    assert_eq!(
        segment_groups(MIB),
        groups(MIB),
        "below 4 MiB: the whole file"
    );
    assert_eq!(segment_groups(4 * MIB) * GROUP, MIB);
    assert_eq!(segment_groups(64 * MIB) * GROUP, 4 * MIB);
    assert_eq!(segment_groups(1 << 30) * GROUP, 16 * MIB);
    assert_eq!(segment_groups(100 << 30) * GROUP, 16 * MIB);
}

/// Run every holder to completion at once, in turns: what each was given, in order.
fn drain(swarm: &mut Swarm, sources: &[SourceId], now: Instant) -> Vec<(SourceId, Range<u64>)> {
    let mut given = Vec::new();
    while !swarm.is_done() {
        let mut any = false;
        for &s in sources {
            if let Some(r) = swarm.assign(s, now) {
                given.push((s, r.clone()));
                swarm.on_verified(s, r.end - r.start, now);
                any = true;
            }
        }
        assert!(any, "no holder got work before the end");
    }
    given
}

#[test]
fn three_holders_get_disjoint_segments_that_cover_the_file_and_shrink_at_the_end() {
    let size = 64 * MIB + 5;
    let mut swarm = Swarm::new(size, GroupSet::new(), false);
    let t0 = Instant::now();
    let a = swarm.assign(0, t0).unwrap();
    let b = swarm.assign(1, t0).unwrap();
    let c = swarm.assign(2, t0).unwrap();
    assert_eq!((a.start, a.end), (0, 256));
    assert_eq!(
        (b.start, c.start),
        (256, 512),
        "next to each other, in order"
    );
    assert_eq!(
        swarm.assign(0, t0),
        Some(a.clone()),
        "a holder keeps its segment"
    );
    for s in 0..3 {
        let r = swarm.assignment(s).unwrap();
        swarm.on_verified(s, r.end - r.start, t0);
    }
    let given = drain(&mut swarm, &[0, 1, 2], t0);
    let mut covered = GroupSet::of([a, b, c]);
    for (_, r) in &given {
        let overlaps = (r.start..r.end).any(|g| covered.contains(g));
        assert!(!overlaps, "{r:?} was given twice");
        covered.insert(r.clone());
    }
    assert_eq!(covered.gaps(groups(size)), Vec::<Range<u64>>::new());
    let last = &given.last().unwrap().1;
    assert!(
        last.end - last.start < 256,
        "the last segments are smaller: {last:?}"
    );
    assert!(swarm.is_done());
}

#[test]
fn a_resume_skips_the_verified_groups_and_a_holder_that_drops_out_frees_its_rest() {
    let size = 32 * MIB;
    let mut swarm = Swarm::new(size, GroupSet::of([0..100, 300..400]), false);
    let t0 = Instant::now();
    let first = swarm.assign(7, t0).unwrap();
    assert_eq!(first.start, 100);
    assert!(
        first.end <= 300,
        "not past the next verified run: {first:?}"
    );
    swarm.on_verified(7, 20, t0);
    swarm.release(7);
    let again = swarm.assign(8, t0).unwrap();
    assert_eq!(again.start, 120, "from where the first holder stopped");
    assert!(swarm.verified().contains(119) && !swarm.verified().contains(120));
}

#[test]
fn a_segment_that_falls_far_behind_gives_its_tail_to_a_much_faster_holder() {
    let size = 8 * MIB; // 512 groups, segments of 1 MiB (64 groups)
    let t0 = Instant::now();
    let mut swarm = Swarm::new(size, GroupSet::new(), false);
    // The fast holder (0) has shown its pace: 64 groups in 1 s.
    assert_eq!(swarm.assign(0, t0), Some(0..64));
    let t1 = t0 + Duration::from_secs(1);
    swarm.on_verified(0, 64, t1);
    // The slow one (1) takes the next segment; the fast one all the others.
    assert_eq!(swarm.assign(1, t1), Some(64..128));
    while let Some(r) = swarm.assign(0, t1) {
        swarm.on_verified(0, r.end - r.start, t1);
        if swarm.verified().gaps(512)
            == [Range {
                start: 64,
                end: 128,
            }]
        {
            break;
        }
    }
    assert_eq!(
        swarm.verified().gaps(512),
        [Range {
            start: 64,
            end: 128
        }]
    );
    // After 3 s the slow one did 3 groups: too early to judge.
    swarm.on_verified(1, 3, t1 + Duration::from_secs(3));
    assert_eq!(swarm.assign(0, t1 + Duration::from_secs(3)), None);
    // After 5 s, 10 groups: 2 a second, 54 left = 27 s; the fast one needs under 1 s.
    let t5 = t1 + Duration::from_secs(5);
    swarm.on_verified(1, 7, t5);
    let tail = swarm.assign(0, t5).unwrap();
    assert_eq!(tail, 101..128, "the second half of what is left");
    assert_eq!(swarm.assignment(1), Some(64..101));
    swarm.on_verified(0, 27, t5);
    swarm.on_verified(1, 27, t5 + Duration::from_secs(14));
    assert!(swarm.is_done());
}

#[test]
fn no_overlap_without_each_condition_of_the_rule() {
    let t0 = Instant::now();
    // Holder 1 has the only unfinished segment (64..128) and did `done` groups in
    // `ran` seconds; holder 0 is idle, `fast` groups a second on its last segment.
    let setup = |fast: f64, done: u64, ran: u64| {
        let mut swarm = Swarm::new(8 * MIB, GroupSet::of([0..64, 128..512]), false);
        swarm.rates.insert(0, fast);
        assert_eq!(swarm.assign(1, t0), Some(64..128));
        swarm.on_verified(1, done, t0 + Duration::from_secs(ran));
        swarm.assign(0, t0 + Duration::from_secs(ran))
    };
    assert!(
        setup(100.0, 10, 5).is_some(),
        "the rule's case: 27 s left, under 1 s for the other"
    );
    assert!(setup(100.0, 3, 3).is_none(), "ran under 4 s");
    assert!(
        setup(100.0, 30, 5).is_none(),
        "under 20 s left (34 groups at 6 a second)"
    );
    assert!(
        setup(3.0, 10, 5).is_none(),
        "not twice as fast (27 s against 18 s)"
    );
    // A holder whose pace is unknown takes nothing over.
    let mut swarm = Swarm::new(8 * MIB, GroupSet::of([0..64, 128..512]), false);
    swarm.assign(1, t0);
    swarm.on_verified(1, 1, t0 + Duration::from_secs(10));
    assert_eq!(swarm.assign(5, t0 + Duration::from_secs(10)), None);
}

#[test]
fn a_small_file_goes_to_one_holder() {
    let mut swarm = Swarm::new(3 * MIB, GroupSet::new(), true);
    let t0 = Instant::now();
    assert_eq!(swarm.assign(0, t0), Some(0..192));
    assert_eq!(swarm.assign(1, t0), None);
    assert_eq!(swarm.busy(), 1);
}
