// int64 arithmetic on vec2<u32> (x: low word, y: high word, two's complement): WGSL has no i64.

fn i64_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn i64_neg(a: vec2<u32>) -> vec2<u32> {
    return i64_add(~a, vec2<u32>(1u, 0u));
}

fn i64_sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return i64_add(a, i64_neg(b));
}

// The full 64-bit product of two u32, from 16-bit halves.
fn u32_mul_wide(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return vec2<u32>((p00 & 0xffffu) | (mid << 16u), a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

fn i64_mul(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let p = u32_mul_wide(a.x, b.x);
    return vec2<u32>(p.x, p.y + a.x * b.y + a.y * b.x);
}

fn i64_negative(a: vec2<u32>) -> bool {
    return (a.y >> 31u) == 1u;
}

fn i64_less(a: vec2<u32>, b: vec2<u32>) -> bool {
    if (a.y != b.y) {
        return bitcast<i32>(a.y) < bitcast<i32>(b.y);
    }
    return a.x < b.x;
}

fn u64_less(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

// a / b truncated toward zero (b != 0), by binary long division of the magnitudes.
fn i64_div(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let n = select(a, i64_neg(a), i64_negative(a));
    let d = select(b, i64_neg(b), i64_negative(b));
    var q = vec2<u32>(0u, 0u);
    var r = vec2<u32>(0u, 0u);
    for (var i = 63u; i < 64u; i = i - 1u) {  // 63 down to 0: the u32 wraps past 0 and ends the loop
        let bit = select((n.x >> i) & 1u, (n.y >> (i - 32u)) & 1u, i >= 32u);
        r = vec2<u32>((r.x << 1u) | bit, (r.y << 1u) | (r.x >> 31u));
        if (!u64_less(r, d)) {
            r = i64_sub(r, d);
            if (i >= 32u) {
                q.y = q.y | (1u << (i - 32u));
            } else {
                q.x = q.x | (1u << i);
            }
        }
    }
    return select(q, i64_neg(q), i64_negative(a) != i64_negative(b));
}

// Truncation toward zero, exact for every float in the int64 range: the magnitude splits into words
// exactly (a float of 2^32 or more is a multiple of 512), then the sign is applied.
fn i64_from_f32(v: f32) -> vec2<u32> {
    let t = abs(trunc(v));
    let hi = floor(t / 4294967296.0);
    let m = vec2<u32>(u32(t - hi * 4294967296.0), u32(hi));
    return select(m, i64_neg(m), v < 0.0);
}

// Correctly rounded below 2^32 in magnitude; larger values may round twice.
fn i64_to_f32(a: vec2<u32>) -> f32 {
    let m = select(a, i64_neg(a), i64_negative(a));
    let r = f32(m.y) * 4294967296.0 + f32(m.x);
    return select(r, -r, i64_negative(a));
}
