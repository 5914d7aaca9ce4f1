//! Adding more zones at once than the engine's command ring holds (a
//! regency's two thousand poles as zones): every one is taken, a packet
//! time apart, none refused.

use std::time::{Duration, Instant};

use corong::engine::{Command, Engine, EngineConfig, Ramps, ZoneMixer, ZoneRuntime};
use corong::ids::ZoneId;

#[test]
fn a_burst_of_zones_larger_than_the_command_ring_is_taken_whole() {
    let (engine, _outbox) = Engine::start(EngineConfig {
        packet_time: Duration::from_millis(20),
    })
    .unwrap();
    for n in 0..2000u32 {
        let mixer = ZoneMixer::new(1, 48_000, 0.0, Ramps::default());
        let zone = ZoneRuntime::new(ZoneId(n + 1), mixer, Vec::new(), 960);
        assert!(
            engine
                .send_within(Command::AddZone(Box::new(zone)), Duration::from_secs(2))
                .is_ok(),
            "zone {n} refused"
        );
    }
    let end = Instant::now() + Duration::from_secs(5);
    while engine.commands_pending() > 0 {
        assert!(
            Instant::now() < end,
            "{} commands never taken",
            engine.commands_pending()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    engine.shutdown();
}
