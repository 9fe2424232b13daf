//! What the operating system tells about processes and threads: CPU
//! clocks, `/proc/PID/{stat,status}` (Linux), and the open-files limit.

use std::collections::BTreeMap;
use std::time::Duration;

/// The CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`); `None`
/// where there is no such clock.
pub(crate) fn thread_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u32::try_from(t.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Raises the soft limit on open files to at least `needed` (up to the
/// hard limit); returns the soft limit in force afterwards, or an error
/// saying why `needed` cannot be had.
pub(crate) fn raise_open_files(needed: u64) -> Result<u64, String> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let current = limit.current.unwrap_or(u64::MAX);
        if current >= needed {
            return Ok(current);
        }
        let maximum = limit.maximum.unwrap_or(u64::MAX);
        if maximum < needed {
            return Err(format!(
                "{needed} open files needed, the hard limit is {maximum} (raise it with `ulimit -Hn` as root)"
            ));
        }
        let raised = Rlimit {
            current: Some(needed),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised)
            .map_err(|e| format!("cannot raise RLIMIT_NOFILE to {needed}: {e}"))?;
        Ok(needed)
    }
    #[cfg(not(unix))]
    {
        Ok(needed)
    }
}

/// Sends SIGKILL to process `pid` (Unix).
pub(crate) fn kill_9(pid: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process};
        let target = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| format!("--kill-pid {pid} is not a process id"))?;
        kill_process(target, Signal::KILL).map_err(|e| format!("cannot kill {pid}: {e}"))
    }
    #[cfg(not(unix))]
    {
        Err(format!("cannot kill {pid}: signals are Unix's"))
    }
}

/// CPU time of one process, whole and per thread name, at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct CpuSample {
    /// utime + stime of the whole process.
    pub(crate) total: Duration,
    /// utime + stime per thread id, with the thread's name.
    pub(crate) threads: BTreeMap<u32, (String, Duration)>,
}

impl CpuSample {
    /// The CPU time since `earlier`, per thread name (threads born in
    /// between count from zero), largest first.
    pub(crate) fn by_name_since(&self, earlier: &Self) -> Vec<(String, Duration, usize)> {
        let mut names: BTreeMap<&str, (Duration, usize)> = BTreeMap::new();
        for (tid, (name, cpu)) in &self.threads {
            let before = earlier.threads.get(tid).map_or(Duration::ZERO, |t| t.1);
            let entry = names.entry(name).or_default();
            entry.0 += cpu.saturating_sub(before);
            entry.1 += 1;
        }
        let mut out: Vec<_> = names
            .into_iter()
            .map(|(name, (cpu, count))| (name.to_owned(), cpu, count))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// The CPU times of process `pid` from `/proc` (Linux); `None` elsewhere
/// or once the process is gone.
pub(crate) fn cpu_sample(pid: u32) -> Option<CpuSample> {
    let ticks = clock_ticks()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, total) = parse_stat(&stat, ticks)?;
    let mut threads = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue; // the thread ended meanwhile
            };
            if let Some(parsed) = parse_stat(&text, ticks) {
                threads.insert(tid, parsed);
            }
        }
    }
    Some(CpuSample { total, threads })
}

/// Memory of process `pid` from `/proc/PID/status`, in KiB: the peak
/// resident set (`VmHWM`) and the current one (`VmRSS`).
pub(crate) fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_field(&status, "VmHWM")?,
        status_field(&status, "VmRSS")?,
    ))
}

/// `(comm, utime + stime)` from a `/proc/.../stat` line. The name is in
/// parentheses and may itself hold spaces and parentheses: the fields
/// start after the last `)` (proc(5)).
fn parse_stat(text: &str, ticks_per_second: u64) -> Option<(String, Duration)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    let mut fields = text.get(close + 1..)?.split_whitespace();
    // After the name: state (field 3) … utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime.saturating_add(stime);
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second.max(1));
    Some((name, Duration::from_nanos(u64::try_from(nanos).ok()?)))
}

/// A `Name:   123 kB` line of `/proc/PID/status`, in KiB.
fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.split(':').next() == Some(name))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> Option<u64> {
    #[cfg(unix)]
    {
        Some(rustix::param::clock_ticks_per_second())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse() {
        let line = "4242 (tokio-runtime-w) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 3 0";
        let (name, cpu) = parse_stat(line, 100).expect("valid");
        assert_eq!(name, "tokio-runtime-w");
        assert_eq!(cpu, Duration::from_millis(1750));
        // A name holding ") " must not shift the fields.
        let odd = "7 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 3 4 0";
        assert_eq!(
            parse_stat(odd, 100),
            Some(("a) b (c)".into(), Duration::from_millis(70)))
        );
        assert_eq!(parse_stat("7 (x) R 1 2", 100), None);
    }

    #[test]
    fn status_fields_parse() {
        let status =
            "Name:\tserver\nVmPeak:\t  9000 kB\nVmHWM:\t    4321 kB\nVmRSS:\t    1234 kB\n";
        assert_eq!(status_field(status, "VmHWM"), Some(4321));
        assert_eq!(status_field(status, "VmRSS"), Some(1234));
        assert_eq!(status_field(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_is_readable() {
        if cfg!(target_os = "linux") {
            let me = cpu_sample(std::process::id()).expect("/proc/self");
            assert!(!me.threads.is_empty());
            let (peak, now) = memory_kib(std::process::id()).expect("/proc/self/status");
            assert!(peak >= now && now > 0);
        }
    }

    #[test]
    fn names_group_threads() {
        let earlier = CpuSample {
            total: Duration::ZERO,
            threads: [(1, ("w".to_owned(), Duration::from_millis(10)))].into(),
        };
        let later = CpuSample {
            total: Duration::from_millis(100),
            threads: [
                (1, ("w".to_owned(), Duration::from_millis(40))),
                (2, ("w".to_owned(), Duration::from_millis(20))),
                (3, ("e".to_owned(), Duration::from_millis(60))),
            ]
            .into(),
        };
        assert_eq!(
            later.by_name_since(&earlier),
            vec![
                ("e".to_owned(), Duration::from_millis(60), 1),
                ("w".to_owned(), Duration::from_millis(50), 2),
            ]
        );
    }
}
