// float64 as its bits (vec2<u32>: low word, high word) and its conversions, in integer arithmetic:
// WGSL has no f64. Needs int64.wgsl.

fn u64_shl(a: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) {
        return a;
    }
    if (s >= 32u) {
        return vec2<u32>(0u, a.x << (s - 32u));
    }
    return vec2<u32>(a.x << s, (a.y << s) | (a.x >> (32u - s)));
}

fn u64_shr(a: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) {
        return a;
    }
    if (s >= 32u) {
        return vec2<u32>(a.y >> (s - 32u), 0u);
    }
    return vec2<u32>((a.x >> s) | (a.y << (32u - s)), a.y >> s);
}

// Exact: every float32 is a float64 (subnormals normalised).
fn f64_from_f32(x: f32) -> vec2<u32> {
    let b = bitcast<u32>(x);
    let sign = b & 0x80000000u;
    let e = (b >> 23u) & 0xffu;
    var m = b & 0x7fffffu;
    var e64 = e + 896u;  // rebias: - 127 + 1023
    if (e == 0xffu) {
        e64 = 0x7ffu;
    } else if (e == 0u) {
        if (m == 0u) {
            return vec2<u32>(0u, sign);
        }
        let shift = countLeadingZeros(m) - 8u;  // brings the leading one to bit 23
        m = (m << shift) & 0x7fffffu;
        e64 = 897u - shift;  // 2^(-126 - shift), rebiased
    }
    return vec2<u32>(m << 29u, sign | (e64 << 20u) | (m >> 3u));
}

// Rounded to nearest even once, subnormal results included, and assembled as bits: GPUs may flush
// subnormal results of f32 arithmetic to zero (WGSL allows it), never a value built by bitcast.
fn f64_to_f32(v: vec2<u32>) -> f32 {
    let sign = v.y & 0x80000000u;
    let e = i32((v.y >> 20u) & 0x7ffu) - 1023;
    let hi = v.y & 0xfffffu;
    if (e == 1024) {
        return f32_bits(select(sign | 0x7f800000u, 0x7fc00000u, (hi | v.x) != 0u));
    }
    if (e < -150) {
        return f32_bits(sign);
    }
    if (e > 127) {
        return f32_bits(sign | 0x7f800000u);
    }
    // Keep 24 significant bits, fewer below 2^-126 (a subnormal's last bit is 2^-149).
    let m = vec2<u32>(v.x, hi | 0x100000u);  // the 53-bit significand
    let cut = 28u + u32(max(-126 - e, 0));  // bits below the rounding bit
    let r = u64_shr(m, cut);  // the kept bits, then the rounding bit
    let rounding = r.x & 1u;
    let sticky = any(u64_shl(r, cut) != m);
    let kept = (r.x >> 1u) + select(0u, 1u, rounding == 1u && (sticky || (r.x & 2u) != 0u));
    // The leading bit of a normal result adds one to its biased exponent (e + 126); a carry of the
    // rounding moves to the next binade (and past the largest float to infinity) by the same sum.
    return f32_bits(sign | ((u32(max(e + 126, 0)) << 23u) + kept));
}

// Truncation toward zero (C's cast); magnitudes of 2^63 and more are undefined, as in C.
fn f64_to_i64(v: vec2<u32>) -> vec2<u32> {
    let e = i32((v.y >> 20u) & 0x7ffu) - 1023;
    if (e < 0) {
        return vec2<u32>(0u, 0u);
    }
    let m = vec2<u32>(v.x, (v.y & 0xfffffu) | 0x100000u);  // the 53-bit significand
    let r = select(u64_shr(m, u32(max(52 - e, 0))), u64_shl(m, u32(min(e - 52, 63))), e >= 52);
    return select(r, i64_neg(r), (v.y >> 31u) == 1u);
}

// Rounded to nearest even beyond 2^53.
fn f64_from_i64(a: vec2<u32>) -> vec2<u32> {
    let negative = i64_negative(a);
    let m = select(a, i64_neg(a), negative);
    if (m.x == 0u && m.y == 0u) {
        return vec2<u32>(0u, 0u);
    }
    let top = select(63u - countLeadingZeros(m.y), 31u - countLeadingZeros(m.x), m.y == 0u);
    var exp = top;
    var mant = u64_shl(m, 52u - min(top, 52u));
    if (top > 52u) {
        let s = top - 52u;  // 1 to 11 bits drop out, all from the low word
        mant = u64_shr(m, s);
        let rest = m.x & ((1u << s) - 1u);
        let half = 1u << (s - 1u);
        if (rest > half || (rest == half && (mant.x & 1u) == 1u)) {
            mant = i64_add(mant, vec2<u32>(1u, 0u));
            if (mant.y >= 0x200000u) {  // carried past 53 bits
                mant = u64_shr(mant, 1u);
                exp += 1u;
            }
        }
    }
    return vec2<u32>(mant.x, select(0u, 0x80000000u, negative) | ((exp + 1023u) << 20u) | (mant.y & 0xfffffu));
}
