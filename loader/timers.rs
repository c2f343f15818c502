//! Timers (`task_timers_entry`): the three interval timers and POSIX
//! timers with their ids. Dump finds the POSIX timers in /proc
//! (`proc::posix_timers`) and asks the task for the times (`dump::inject`);
//! restore hands the blob arrays it creates them from, POSIX timers with
//! their dumped ids (PR_TIMER_CREATE_RESTORE_IDS).

use restorer_blob::{Itimer, PosixTimer};

use crate::images::schema::TaskTimersEntry;

/// The POSIX timers of `t`, as the blob creates them.
pub fn posix_to_blob(t: &TaskTimersEntry) -> Vec<PosixTimer> {
    t.posix
        .iter()
        .map(|p| PosixTimer {
            id: p.it_id,
            clock_id: p.clock_id,
            signo: p.si_signo,
            notify: p.it_sigev_notify,
            notify_tid: p.notify_thread_id.unwrap_or(0) as u32,
            _pad: 0,
            sival: p.sival_ptr,
            interval_sec: p.isec,
            interval_nsec: p.insec,
            value_sec: p.vsec,
            value_nsec: p.vnsec,
        })
        .collect()
}

/// The armed interval timers of `t` (real, virtual, profiling), as the
/// blob sets them.
pub fn itimers_to_blob(t: &TaskTimersEntry) -> Vec<Itimer> {
    [(0, &t.real), (1, &t.virt), (2, &t.prof)]
        .into_iter()
        .filter(|(_, i)| i.isec | i.iusec | i.vsec | i.vusec != 0)
        .map(|(which, i)| Itimer {
            which,
            _pad: 0,
            interval_sec: i.isec,
            interval_usec: i.iusec,
            value_sec: i.vsec,
            value_usec: i.vusec,
        })
        .collect()
}
