// POOL: one thread per output of [N*C, OH, OW]; windows over the zero-based input with pads
// (top PT, left PL, bottom PB, right PR). Average counts in-bounds taps, or with COUNT_PADS also
// those on the explicit pads (never the ceil_mode overhang).
{{WINDOW}}
const PB = {{PB}};
const PR = {{PR}};
const COUNT_PADS = {{COUNT_PADS}};
const IS_MAX = {{IS_MAX}};

fn element(i: u32) {
    let ow = i % OW;
    let oh = (i / OW) % OH;
    let plane = (i / (OW * OH)) * H * W;
    var acc = select(0.0, f32_bits(0xff800000u), IS_MAX);
    var count = 0u;
    for (var kh = 0u; kh < KH; kh++) {
        let ih = i32(oh * SH + kh * DH) - PT;
        for (var kw = 0u; kw < KW; kw++) {
            let iw = i32(ow * SW + kw * DW) - PL;
            if (ih >= 0 && ih < i32(H) && iw >= 0 && iw < i32(W)) {
                let v = ld_x(plane + u32(ih) * W + u32(iw));
                acc = select(acc + v, max(acc, v), IS_MAX);
                count += 1u;
            } else if (COUNT_PADS && ih >= -PT && ih < i32(H) + PB && iw >= -PL && iw < i32(W) + PR) {
                count += 1u;
            }
        }
    }
    st_y(i, select(acc / f32(count), acc, IS_MAX));
}
