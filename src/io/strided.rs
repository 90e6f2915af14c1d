//! Strided views of a flat element buffer (a torch storage, a Fortran-order .npy) made dense and row-major,
//! with every view checked to stay inside its buffer first; and byte-order swapping.

/// Row-major (C-contiguous) strides of a shape, in elements.
pub fn contiguous_strides(size: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; size.len()];
    for i in (0..size.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(size[i + 1]);
    }
    s
}

/// Column-major (Fortran) strides of a shape, in elements.
pub fn fortran_strides(size: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; size.len()];
    for i in 1..size.len() {
        s[i] = s[i - 1].saturating_mul(size[i - 1]);
    }
    s
}

/// Whether a view with these sizes and strides reads its elements in row-major order without gaps
/// (strides of dimensions of size 1 do not matter; an empty view is contiguous).
pub fn is_contiguous(size: &[usize], stride: &[usize]) -> bool {
    if size.contains(&0) {
        return true;
    }
    let mut expect = 1usize;
    for (&n, &s) in size.iter().zip(stride).rev() {
        if n != 1 && s != expect {
            return false;
        }
        expect = expect.saturating_mul(n);
    }
    true
}

/// Checks that the view (offset, size, stride) of a buffer of `len` elements stays inside it, and
/// returns the view's number of elements. An empty view needs nothing (as in torch); otherwise the last
/// element read, `offset + Σ (size_i − 1)·stride_i`, must be `< len`.
pub fn check_view(
    len: usize,
    offset: usize,
    size: &[usize],
    stride: &[usize],
) -> Result<usize, String> {
    if size.len() != stride.len() {
        return Err(format!(
            "size {size:?} and stride {stride:?} have different ranks"
        ));
    }
    let numel = size
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("size {size:?} has more than 2^64 elements"))?;
    if numel == 0 {
        return Ok(0);
    }
    let last = size
        .iter()
        .zip(stride)
        .try_fold(offset as u128, |a, (&n, &s)| {
            a.checked_add((n as u128 - 1).checked_mul(s as u128)?)
        })
        .ok_or_else(|| format!("size {size:?} × stride {stride:?} overflows"))?;
    if last >= len as u128 {
        return Err(format!(
            "the view (offset {offset}, size {size:?}, stride {stride:?}) reads element {last} \
             but its storage holds {len} elements"
        ));
    }
    Ok(numel)
}

/// Copies the view (offset, size, stride; in elements of `elem` bytes) of `src` into a dense row-major
/// buffer. The caller has checked the view with [`check_view`].
pub fn gather(src: &[u8], elem: usize, offset: usize, size: &[usize], stride: &[usize]) -> Vec<u8> {
    let numel: usize = size.iter().product();
    let mut out = Vec::with_capacity(numel * elem);
    if numel == 0 {
        return out;
    }
    let nd = size.len();
    if nd == 0 {
        out.extend_from_slice(&src[offset * elem..(offset + 1) * elem]);
        return out;
    }
    let (inner_n, inner_s) = (size[nd - 1], stride[nd - 1]);
    let mut idx = vec![0usize; nd - 1];
    let mut base = offset;
    loop {
        if inner_s == 1 {
            out.extend_from_slice(&src[base * elem..(base + inner_n) * elem]);
        } else {
            for j in 0..inner_n {
                let e = base + j * inner_s;
                out.extend_from_slice(&src[e * elem..(e + 1) * elem]);
            }
        }
        // Odometer over the outer dimensions.
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            // Wrapping: a size-1 dimension may carry any stride; the sum is undone before it is used.
            base = base.wrapping_add(stride[d]);
            if idx[d] < size[d] {
                break;
            }
            base = base.wrapping_sub(stride[d].wrapping_mul(size[d]));
            idx[d] = 0;
        }
    }
}

/// Reverses the bytes of every `elem`-byte element (big-endian ↔ little-endian).
pub fn swap_bytes(buf: &mut [u8], elem: usize) {
    if elem > 1 {
        buf.chunks_exact_mut(elem).for_each(|c| c.reverse());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: element-by-element with an explicit multi-index.
    fn naive(src: &[u32], offset: usize, size: &[usize], stride: &[usize]) -> Vec<u32> {
        let numel: usize = size.iter().product();
        (0..numel)
            .map(|mut flat| {
                let mut e = offset;
                for d in (0..size.len()).rev() {
                    e += (flat % size[d]) * stride[d];
                    flat /= size[d];
                }
                src[e]
            })
            .collect()
    }

    fn bytes(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn gather_matches_naive_on_many_views() {
        let src: Vec<u32> = (0..200).map(|i| i * 7 + 1).collect();
        let cases: &[(usize, &[usize], &[usize])] = &[
            (0, &[], &[]),
            (5, &[], &[]),
            (0, &[4, 6], &[6, 1]),
            (0, &[6, 4], &[1, 6]),        // transpose
            (6, &[3, 3], &[6, 2]),        // t[1:, ::2]
            (3, &[2, 3, 4], &[40, 1, 3]), // permuted
            (0, &[3, 5], &[0, 1]),        // expanded (stride 0)
            (7, &[1, 5], &[99, 2]),
            (0, &[0, 5], &[5, 1]),
            (11, &[2, 2, 2, 2], &[50, 20, 7, 1]),
        ];
        for &(off, size, stride) in cases {
            check_view(src.len(), off, size, stride).unwrap();
            let got = gather(&bytes(&src), 4, off, size, stride);
            assert_eq!(
                got,
                bytes(&naive(&src, off, size, stride)),
                "{off} {size:?} {stride:?}"
            );
        }
    }

    #[test]
    fn views_outside_their_storage_are_refused() {
        assert!(check_view(10, 0, &[2, 5], &[5, 1]).is_ok());
        assert!(check_view(10, 1, &[2, 5], &[5, 1]).is_err());
        assert!(check_view(10, 0, &[5, 2], &[1, 5]).is_ok());
        assert!(check_view(10, 0, &[5, 2], &[1, 6]).is_err());
        assert!(check_view(10, 10, &[], &[]).is_err());
        assert!(check_view(10, 9, &[], &[]).is_ok());
        assert!(
            check_view(0, 100, &[0, 3], &[3, 1]).is_ok(),
            "an empty view reads nothing"
        );
        assert!(check_view(10, 0, &[usize::MAX, 2], &[1, 1]).is_err());
        assert!(check_view(10, 0, &[2, 2], &[usize::MAX, 1]).is_err());
        assert!(check_view(10, 0, &[2], &[1, 1]).is_err());
    }

    #[test]
    fn contiguity() {
        assert!(is_contiguous(&[2, 3], &[3, 1]));
        assert!(is_contiguous(&[2, 1, 3], &[3, 99, 1]));
        assert!(!is_contiguous(&[2, 3], &[1, 2]));
        assert!(!is_contiguous(&[3, 2], &[4, 2]));
        assert!(is_contiguous(&[], &[]));
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(fortran_strides(&[2, 3, 4]), vec![1, 2, 6]);
    }

    #[test]
    fn swap() {
        let mut b = vec![1, 2, 3, 4, 5, 6, 7, 8];
        swap_bytes(&mut b, 4);
        assert_eq!(b, vec![4, 3, 2, 1, 8, 7, 6, 5]);
        swap_bytes(&mut b, 1);
        assert_eq!(b, vec![4, 3, 2, 1, 8, 7, 6, 5]);
    }
}
