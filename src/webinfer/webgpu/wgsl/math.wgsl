// Float functions WGSL lacks or computes too loosely for the reference's float64 results.

// erfc(a) for a >= 0: the Chebyshev fit of Numerical Recipes (fractional error < 1.2e-7), which keeps
// its relative accuracy far into the tail, where 1 - erf(a) would cancel to nothing.
fn erfc_pos(a: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * a);
    let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(p - a * a);
}

// erf by its Taylor series near 0 (relative accuracy for tiny x), else 1 - erfc.
fn erf_f32(x: f32) -> f32 {
    let a = abs(x);
    if (a < 0.5) {
        let z = x * x;
        return 1.1283791671 * x * (1.0 + z * (-1.0 / 3.0 + z * (0.1 + z * (-1.0 / 42.0 + z * (1.0 / 216.0
            + z * (-1.0 / 1320.0 + z / 9360.0))))));
    }
    return sign(x) * (1.0 - erfc_pos(a));
}

// Exact GELU, x * (1 + erf(x / sqrt 2)) / 2, through erfc on the negative side.
fn gelu(x: f32) -> f32 {
    let z = x * 0.70710678118654752;
    if (z < -0.5) {
        return 0.5 * x * erfc_pos(-z);
    }
    return 0.5 * x * (1.0 + erf_f32(z));
}

// tanh without the overflow of exp(2x) or the cancellation of 1 - e near 0.
fn tanh_f32(x: f32) -> f32 {
    let a = abs(x);
    if (a < 0.25) {
        let z = x * x;
        return x * (1.0 + z * (-1.0 / 3.0 + z * (2.0 / 15.0 + z * (-17.0 / 315.0 + z * (62.0 / 2835.0)))));
    }
    let e = exp(-2.0 * a);
    return sign(x) * (1.0 - e) / (1.0 + e);
}

fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));  // never overflows; tiny results stay tiny rather than 0
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// pow with the real results numpy gives for negative bases and integral exponents; squares exact.
fn pow_f32(a: f32, b: f32) -> f32 {
    if (b == 2.0) {
        return a * a;
    }
    if (b == 0.0) {
        return 1.0;
    }
    let r = pow(abs(a), b);
    if (a >= 0.0) {
        return r;
    }
    if (b != floor(b)) {
        return f32_bits(0x7fc00000u);
    }
    return select(r, -r, abs(b) % 2.0 == 1.0);
}
