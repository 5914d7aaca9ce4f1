//! Whether the system clock can be trusted: synchronized by NTP.
//!
//! After a power cut a kiosk PC without a working RTC battery boots with a
//! clock that may be hours or years off until NTP (chrony, ntpd,
//! systemd-timesyncd) corrects it. With `[daemon] wait_for_clock_sync`,
//! schedules wait until the kernel says the clock is synchronized; every
//! NTP client clears the kernel's "unsynchronized" flag when it has set
//! the clock, so asking the kernel covers all of them.

use std::time::Duration;

/// How often the daemon asks again while it waits.
pub const POLL: Duration = Duration::from_secs(1);

/// Test hook, honoured in debug builds only: when set, the clock counts as
/// synchronized exactly when the file it names exists, so tests can flip it.
pub const TEST_SYNC_FILE_ENV: &str = "CORONG_TEST_CLOCK_SYNC_FILE";

/// Whether the kernel considers the system clock synchronized.
pub fn clock_synchronized() -> bool {
    if cfg!(debug_assertions) {
        if let Some(path) = std::env::var_os(TEST_SYNC_FILE_ENV) {
            return std::path::Path::new(&path).exists();
        }
    }
    kernel_says_synchronized()
}

#[cfg(target_os = "linux")]
fn kernel_says_synchronized() -> bool {
    // SAFETY: an all-zero timex is valid input; `modes = 0` only reads the
    // kernel's clock state into it.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, writable timex.
    let state = unsafe { libc::adjtimex(&mut tx) };
    // TIME_ERROR: the clock is not synchronized (STA_UNSYNC is set).
    state >= 0 && state != libc::TIME_ERROR
}

#[cfg(not(target_os = "linux"))]
fn kernel_says_synchronized() -> bool {
    true
}

/// Wait (asynchronously, on the control plane) until the clock is
/// synchronized. Logs once when it starts waiting and once when done.
pub async fn wait_until_synchronized() {
    if clock_synchronized() {
        return;
    }
    tracing::warn!(
        "schedules wait until the system clock is synchronized (NTP); announcements play as usual"
    );
    let waited = std::time::Instant::now();
    while !clock_synchronized() {
        tokio::time::sleep(POLL).await;
    }
    tracing::info!(
        waited_s = waited.elapsed().as_secs(),
        "system clock synchronized: schedules start"
    );
}
