//! The log: CRIU's `-v0..4` levels and `-o FILE`, one line per message with
//! the time since start-up, written to stderr or the log file.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

pub const ERROR: u8 = 1;
pub const WARN: u8 = 2;
pub const INFO: u8 = 3;
pub const DEBUG: u8 = 4;

struct Logger {
    level: u8,
    start: Instant,
    file: Option<Mutex<File>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the level and destination; the first call wins.
pub fn init(level: u8, file: Option<File>) {
    let _ = LOGGER.set(Logger {
        level,
        start: Instant::now(),
        file: file.map(Mutex::new),
    });
}

pub fn enabled(level: u8) -> bool {
    LOGGER.get().map_or(level <= WARN, |l| level <= l.level)
}

pub fn write(level: u8, msg: std::fmt::Arguments) {
    if !enabled(level) {
        return;
    }
    let (elapsed, file) = match LOGGER.get() {
        Some(l) => (l.start.elapsed(), l.file.as_ref()),
        None => (Default::default(), None),
    };
    let tag = match level {
        ERROR => "Error: ",
        WARN => "Warn: ",
        _ => "",
    };
    let line = format!(
        "({:>3}.{:06}) {tag}{msg}\n",
        elapsed.as_secs(),
        elapsed.subsec_micros()
    );
    match file {
        Some(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)*))
        }
    };
}

/// Times the stages of a command, logged at `-v4` as they end.
pub struct Stages {
    pub start: Instant,
    last: Instant,
}

impl Stages {
    pub fn new() -> Stages {
        let now = Instant::now();
        Stages {
            start: now,
            last: now,
        }
    }

    pub fn stage(&mut self, what: &str) {
        let now = Instant::now();
        crate::log!(
            DEBUG,
            "stage {what}: {} us (total {} us)",
            (now - self.last).as_micros(),
            (now - self.start).as_micros()
        );
        self.last = now;
    }
}

impl Default for Stages {
    fn default() -> Self {
        Self::new()
    }
}
