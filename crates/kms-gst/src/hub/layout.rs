//! Where each input goes in a composed picture: Composite's grid and
//! AlphaBlending's placements (KMS `kmscompositemixer.c`,
//! `kmsalphablending.c`).

use kms_media::ElementId;

/// A rectangle of the output picture, in pixels, with its stacking order
/// (higher is on top). `x`/`y` may be negative: the part outside is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub z_order: u32,
}

/// KMS Composite's grid for `inputs` (ports with video, in creation order)
/// on a `width` x `height` output: `cols = ceil(sqrt(n))`, `rows =
/// ceil(n / cols)`, cells of `width / cols` x `height / rows` filled left
/// to right, top to bottom; the last row is not centred.
pub fn grid(inputs: &[ElementId], width: i32, height: i32) -> Vec<(ElementId, Rect)> {
    let n = inputs.len();
    if n == 0 {
        return Vec::new();
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let (w, h) = (width / cols as i32, height / rows as i32);
    inputs
        .iter()
        .enumerate()
        .map(|(k, port)| (*port, Rect { x: (k % cols) as i32 * w, y: (k / cols) as i32 * h, width: w, height: h, z_order: 1 }))
        .collect()
}

/// AlphaBlending's `setPortProperties`: fractions of the master's size
/// (`relativeX`, `relativeY`, `relativeWidth`, `relativeHeight`) and a
/// stacking order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub z_order: i32,
}

impl Placement {
    /// Refuses what cannot be drawn: non-finite numbers, a size that is
    /// not positive, a negative zOrder. (KMS checks nothing and documents
    /// 0..1; offsets outside it are accepted and cut, as KMS does.)
    pub fn check(&self) -> Result<(), String> {
        if ![self.x, self.y, self.width, self.height].iter().all(|v| v.is_finite()) {
            return Err("relative positions and sizes must be finite numbers".into());
        }
        if self.width <= 0.0 || self.height <= 0.0 {
            return Err(format!("relativeWidth and relativeHeight must be above 0, not {} and {}", self.width, self.height));
        }
        if self.z_order < 0 {
            return Err(format!("zOrder must be 0 or more, not {}", self.z_order));
        }
        Ok(())
    }

    /// In pixels of a `width` x `height` master (truncated, as KMS).
    pub fn rect(&self, width: i32, height: i32) -> Rect {
        let px = |f: f64, size: i32| (f * f64::from(size)) as i32;
        Rect {
            x: px(self.x, width),
            y: px(self.y, height),
            width: px(self.width, width).max(1),
            height: px(self.height, height).max(1),
            z_order: self.z_order as u32,
        }
    }
}

/// KMS AlphaBlending's default stacking of the master.
pub const MASTER_Z_ORDER: i32 = 5;

/// AlphaBlending's picture: the master at full size at its zOrder; every
/// other input at its placement, or (never placed) full size at zOrder 1,
/// under a master of the default zOrder (KMS).
pub fn blend(inputs: &[ElementId], master: Option<(ElementId, i32)>, placed: &[(ElementId, Placement)], width: i32, height: i32) -> Vec<(ElementId, Rect)> {
    inputs
        .iter()
        .map(|port| {
            let full = |z: u32| Rect { x: 0, y: 0, width, height, z_order: z };
            let rect = match (master, placed.iter().find(|(p, _)| p == port)) {
                (Some((m, z)), _) if m == *port => full(z.max(0) as u32),
                (_, Some((_, placement))) => placement.rect(width, height),
                _ => full(1),
            };
            (*port, rect)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(n: u64) -> Vec<ElementId> {
        (1..=n).map(ElementId).collect()
    }

    #[test]
    fn kms_grid_cells() {
        let r = grid(&ports(3), 800, 600);
        let cells: Vec<(i32, i32, i32, i32)> = r.iter().map(|(_, c)| (c.x, c.y, c.width, c.height)).collect();
        assert_eq!(cells, [(0, 0, 400, 300), (400, 0, 400, 300), (0, 300, 400, 300)]);
        assert_eq!(grid(&ports(2), 800, 600)[1].1, Rect { x: 400, y: 0, width: 400, height: 600, z_order: 1 });
        let nine = grid(&ports(9), 800, 600);
        assert_eq!(nine[8].1, Rect { x: 532, y: 400, width: 266, height: 200, z_order: 1 });
        assert_eq!(grid(&ports(5), 800, 600)[4].1, Rect { x: 266, y: 300, width: 266, height: 300, z_order: 1 });
        assert!(grid(&[], 800, 600).is_empty());
        assert_eq!(grid(&ports(1), 800, 600)[0].1, Rect { x: 0, y: 0, width: 800, height: 600, z_order: 1 });
    }

    #[test]
    fn blending_places_relative_to_the_master() {
        let p = ports(3);
        let pip = Placement { x: 0.5, y: 0.25, width: 0.25, height: 0.5, z_order: 7 };
        let r = blend(&p, Some((p[0], MASTER_Z_ORDER)), &[(p[1], pip)], 640, 480);
        assert_eq!(r[0].1, Rect { x: 0, y: 0, width: 640, height: 480, z_order: 5 });
        assert_eq!(r[1].1, Rect { x: 320, y: 120, width: 160, height: 240, z_order: 7 });
        assert_eq!(r[2].1, Rect { x: 0, y: 0, width: 640, height: 480, z_order: 1 }, "unplaced: under the master");
        assert!(Placement { width: 0.0, ..pip }.check().is_err());
        assert!(Placement { x: f64::NAN, ..pip }.check().is_err());
        assert!(Placement { x: -0.2, ..pip }.check().is_ok(), "cut, as KMS");
    }
}
