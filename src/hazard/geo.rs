//! Points, polygons and circles on the earth, as CAP and the config write
//! them (WGS84 latitude and longitude in degrees), and whether a point lies
//! inside one.
//!
//! Polygons are tested on the plane of latitude and longitude: a
//! kecamatan's outline is a few kilometres across, far too small for the
//! earth's curve to move a point across an edge. Circles use the great-circle
//! distance.

/// Mean earth radius, km (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A position, WGS84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    /// `None` when either coordinate is out of range or not a number.
    pub fn new(lat: f64, lon: f64) -> Option<Point> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
            .then_some(Point { lat, lon })
    }

    /// Great-circle distance to `other`, km (haversine).
    pub fn distance_km(self, other: Point) -> f64 {
        let (la1, la2) = (self.lat.to_radians(), other.lat.to_radians());
        let dla = la2 - la1;
        let dlo = (other.lon - self.lon).to_radians();
        let a = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// A closed ring of points (the first equal to the last), with its
/// bounding box so that most points are refused without walking the edges.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    points: Vec<Point>,
    min: Point,
    max: Point,
}

impl Polygon {
    /// A polygon from its ring. CAP asks for at least four points with the
    /// first equal to the last; `None` otherwise.
    pub fn new(points: Vec<Point>) -> Option<Polygon> {
        if points.len() < 4 || points.first() != points.last() {
            return None;
        }
        let mut min = points[0];
        let mut max = points[0];
        for p in &points {
            min.lat = min.lat.min(p.lat);
            min.lon = min.lon.min(p.lon);
            max.lat = max.lat.max(p.lat);
            max.lon = max.lon.max(p.lon);
        }
        Some(Polygon { points, min, max })
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Whether `p` is inside (even-odd rule: a ray eastwards from `p`
    /// crosses the ring an odd number of times). A point exactly on an edge
    /// may fall either way.
    pub fn contains(&self, p: Point) -> bool {
        if p.lat < self.min.lat
            || p.lat > self.max.lat
            || p.lon < self.min.lon
            || p.lon > self.max.lon
        {
            return false;
        }
        let mut inside = false;
        for edge in self.points.windows(2) {
            let (a, b) = (edge[0], edge[1]);
            // The edge straddles the ray's latitude (half-open, so a vertex
            // on the ray counts once).
            if (a.lat > p.lat) != (b.lat > p.lat) {
                let lon_at = a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat);
                if p.lon < lon_at {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

/// A circle: centre and radius, km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub center: Point,
    pub radius_km: f64,
}

impl Circle {
    pub fn contains(&self, p: Point) -> bool {
        self.center.distance_km(p) <= self.radius_km
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(lat: f64, lon: f64) -> Point {
        Point::new(lat, lon).unwrap()
    }

    /// The winding number of the ring around `p`: a second, independent
    /// way to tell inside from outside (non-zero: inside), summing the
    /// signed angles the edges turn through as seen from `p`.
    fn winding_reference(ring: &[Point], p: Point) -> bool {
        let mut total = 0.0f64;
        for edge in ring.windows(2) {
            let a = (edge[0].lon - p.lon, edge[0].lat - p.lat);
            let b = (edge[1].lon - p.lon, edge[1].lat - p.lat);
            let cross = a.0 * b.1 - a.1 * b.0;
            let dot = a.0 * b.0 + a.1 * b.1;
            total += cross.atan2(dot);
        }
        (total / std::f64::consts::TAU).round() != 0.0
    }

    /// A small deterministic generator: the test is the same on every run.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn a_square_holds_its_middle_and_not_its_outside() {
        let sq = Polygon::new(vec![
            pt(-8.0, 112.0),
            pt(-8.0, 112.2),
            pt(-8.2, 112.2),
            pt(-8.2, 112.0),
            pt(-8.0, 112.0),
        ])
        .unwrap();
        assert!(sq.contains(pt(-8.1, 112.1)));
        assert!(!sq.contains(pt(-8.1, 112.3)));
        assert!(!sq.contains(pt(-7.9, 112.1)));
    }

    #[test]
    fn an_open_or_short_ring_is_no_polygon() {
        assert!(
            Polygon::new(vec![pt(0.0, 0.0), pt(0.0, 1.0), pt(1.0, 1.0), pt(1.0, 0.0)]).is_none()
        );
        assert!(Polygon::new(vec![pt(0.0, 0.0), pt(0.0, 1.0), pt(0.0, 0.0)]).is_none());
    }

    #[test]
    fn coordinates_out_of_range_are_refused() {
        assert!(Point::new(91.0, 0.0).is_none());
        assert!(Point::new(0.0, -180.5).is_none());
        assert!(Point::new(f64::NAN, 0.0).is_none());
    }

    /// Property: on random star-shaped and arbitrary (self-crossing)
    /// polygons, the even-odd test agrees with the winding number for
    /// every simple polygon, and a point in the bounding box's outside is
    /// never inside.
    #[test]
    fn point_in_polygon_agrees_with_the_winding_number() {
        let mut rng = Lcg(0x5eed);
        let mut checked = 0;
        for _ in 0..300 {
            // A star-shaped (so simple) ring around a centre: angles sorted.
            let n = 3 + (rng.next() * 40.0) as usize;
            let c = pt(-8.0 + rng.next(), 112.0 + rng.next());
            let mut angles: Vec<f64> = (0..n).map(|_| rng.next() * std::f64::consts::TAU).collect();
            angles.sort_by(f64::total_cmp);
            let mut ring: Vec<Point> = angles
                .iter()
                .map(|a| {
                    let r = 0.01 + rng.next() * 0.2;
                    pt(c.lat + r * a.sin(), c.lon + r * a.cos())
                })
                .collect();
            ring.push(ring[0]);
            let poly = Polygon::new(ring.clone()).unwrap();
            for _ in 0..50 {
                let p = pt(
                    c.lat - 0.3 + rng.next() * 0.6,
                    c.lon - 0.3 + rng.next() * 0.6,
                );
                assert_eq!(
                    poly.contains(p),
                    winding_reference(&ring, p),
                    "ring {ring:?} point {p:?}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 15_000);
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        // One degree of latitude is about 111.2 km.
        let d = pt(-8.0, 112.0).distance_km(pt(-7.0, 112.0));
        assert!((d - 111.19).abs() < 0.1, "{d}");
        // Kelud's crater to Kota Blitar, roughly 26 km.
        let d = pt(-7.93, 112.31).distance_km(pt(-8.10, 112.17));
        assert!((20.0..30.0).contains(&d), "{d}");
        let c = Circle {
            center: pt(-7.93, 112.308),
            radius_km: 5.0,
        };
        assert!(c.contains(pt(-7.95, 112.30)));
        assert!(!c.contains(pt(-8.10, 112.17)));
    }
}
