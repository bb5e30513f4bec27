//! Register-tiled matrix product on contiguous row-major panels, written as fixed-size
//! loops that LLVM vectorises (see [`super::simd`]). Column counts are padded by the caller
//! to a multiple of [`COL_UNIT`], so there is no remainder loop over columns.
//!
//! Summation order (fixed, independent of the instruction set and of the tile sizes): each
//! entry of c is Σ_p a[i,p]·b[p,j] accumulated in increasing p, starting from 0 (or from
//! the entry's previous value when accumulating).

use super::simd::Level;
use crate::Scalar;

/// Column counts of the panels are multiples of this.
pub(crate) const COL_UNIT: usize = 16;

/// Rounds `n` up to a multiple of [`COL_UNIT`].
pub(crate) fn pad_cols(n: usize) -> usize {
    n.div_ceil(COL_UNIT) * COL_UNIT
}

fn is_f32<T>() -> bool {
    std::mem::size_of::<T>() == 4
}

/// How a k × n (or m × n) operand is laid out in its slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Contiguous row-major: entry (r, j) at r·n + j.
    Rows,
    /// Column j = (s, p) is pixel p of sample s of an [S, rows, hw] tensor: entry (r, j) at
    /// s·rows·hw + r·hw + p. Needs hw to be a multiple of [`COL_UNIT`] (a column tile then
    /// never straddles two samples).
    Planes {
        /// Pixels per plane.
        hw: usize,
    },
}

impl Layout {
    /// (offset of entry (0, j0), row stride) for a matrix with `rows` rows and n columns.
    #[inline(always)]
    fn tile(self, rows: usize, n: usize, j0: usize) -> (usize, usize) {
        match self {
            Layout::Rows => (j0, n),
            Layout::Planes { hw } => ((j0 / hw) * rows * hw + j0 % hw, hw),
        }
    }
}

/// c (m × n) = a (m × k) · b (k × n), or c += a · b when `accumulate`; a is contiguous
/// row-major, b and c are laid out as given, n is a multiple of [`COL_UNIT`].
///
/// A register tile is R rows × W columns of c (R·W accumulators): 8 vectors on AVX2
/// (16 registers), 8 to 12 on AVX-512 (32 registers).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn gemm_nn<T: Scalar>(
    level: Level,
    (m, k, n): (usize, usize, usize),
    a: &[T],
    (b, b_layout): (&[T], Layout),
    (c, c_layout): (&mut [T], Layout),
    accumulate: bool,
) {
    let planes_ok = |l: Layout| match l {
        Layout::Rows => true,
        Layout::Planes { hw } => hw % COL_UNIT == 0 && n % hw == 0,
    };
    assert!(
        n % COL_UNIT == 0
            && a.len() >= m * k
            && b.len() >= k * n
            && c.len() >= m * n
            && planes_ok(b_layout)
            && planes_ok(c_layout),
        "gemm_nn: bad panel sizes"
    );
    if k == 0 {
        if !accumulate {
            for j0 in (0..n).step_by(COL_UNIT) {
                let (base, ld) = c_layout.tile(m, n, j0);
                for r in 0..m {
                    c[base + r * ld..][..COL_UNIT].fill(T::zero());
                }
            }
        }
        return;
    }
    let ops = Operands {
        m,
        k,
        n,
        a,
        b,
        b_layout,
        c_layout,
        accumulate,
    };
    match (is_f32::<T>(), level) {
        (true, Level::Avx512) => ops.run::<8, 16>(c),
        (true, _) => ops.run::<4, 16>(c),
        (false, Level::Avx512) => ops.run::<6, 16>(c),
        (false, _) => ops.run::<4, 8>(c),
    }
}

/// The read-only operands of one product.
struct Operands<'a, T> {
    m: usize,
    k: usize,
    n: usize,
    a: &'a [T],
    b: &'a [T],
    b_layout: Layout,
    c_layout: Layout,
    accumulate: bool,
}

impl<T: Scalar> Operands<'_, T> {
    #[inline(always)]
    fn run<const R: usize, const W: usize>(&self, c: &mut [T]) {
        for j0 in (0..self.n).step_by(W) {
            let mut r0 = 0;
            while r0 + R <= self.m {
                self.tile::<R, W>(r0, j0, c);
                r0 += R;
            }
            while r0 + 2 <= self.m {
                self.tile::<2, W>(r0, j0, c);
                r0 += 2;
            }
            if r0 < self.m {
                self.tile::<1, W>(r0, j0, c);
            }
        }
    }

    /// The R × W tile of c at (r0, j0).
    #[inline(always)]
    fn tile<const R: usize, const W: usize>(&self, r0: usize, j0: usize, c: &mut [T]) {
        let k = self.k;
        let rows: [&[T]; R] = std::array::from_fn(|r| &self.a[(r0 + r) * k..(r0 + r + 1) * k]);
        let (bb, bld) = self.b_layout.tile(k, self.n, j0);
        let (cb, cld) = self.c_layout.tile(self.m, self.n, j0);
        let cb = cb + r0 * cld;
        let mut acc = [[T::zero(); W]; R];
        if self.accumulate {
            for (r, accr) in acc.iter_mut().enumerate() {
                accr.copy_from_slice(&c[cb + r * cld..][..W]);
            }
        }
        let b = &self.b[bb..bb + (k - 1) * bld + W];
        for p in 0..k {
            let bv: &[T; W] = b[p * bld..p * bld + W].try_into().expect("tile width");
            for r in 0..R {
                let av = rows[r][p];
                for l in 0..W {
                    acc[r][l] += av * bv[l];
                }
            }
        }
        for (r, accr) in acc.iter().enumerate() {
            c[cb + r * cld..][..W].copy_from_slice(accr);
        }
    }
}
