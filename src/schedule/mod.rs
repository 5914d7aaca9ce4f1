//! Schedules: cron expressions read in the configured time zone, and the
//! task that fires them.
//!
//! - [`CronSchedule`] (6-field cron with seconds, via croner) and
//!   [`fires_between`], the one pure definition of when a schedule fires,
//!   including on daylight-saving days, live in the leaf module
//!   [`crate::cron`] (the config holds parsed expressions); they are
//!   re-exported here.
//! - [`clock`]: the wall clock the runner reads ([`SystemClock`]) and one
//!   tests move by hand ([`ManualClock`]).
//! - [`runner`]: [`Scheduler`], a tokio task that sends a [`Fire`] for each
//!   fire time; its step, [`Scheduler::poll`], holds the rules for startup
//!   and for wall-clock jumps.
//! - [`upcoming()`]: the next N fire times for `corong schedule`, as text and
//!   as the stable `--json` shape ([`UpcomingJson`]).

pub mod clock;
pub mod runner;
pub mod sync;
pub mod upcoming;

pub use crate::cron::{fires_between, CronSchedule};
pub use clock::{Clock, ManualClock, SystemClock};
pub use runner::{Fire, Scheduler, FORWARD_JUMP_GRACE, MAX_SLEEP};
pub use upcoming::{
    format_human, soonest_first, upcoming, HumanUpcoming, Upcoming, UpcomingJson,
    UpcomingScheduleJson,
};
