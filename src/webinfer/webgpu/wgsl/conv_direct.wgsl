// CONV computed directly, one thread per output of [N, M, OH, OW]: for convolutions whose groups
// have one input channel each (depthwise), where a matrix product would have depth KH * KW only.
const C = {{C}};
{{WINDOW}}
const M = {{M}};
const M_PER_GROUP = {{M_PER_GROUP}};

fn act(x: f32) -> f32 {
    return {{ACT}};
}

fn element(i: u32) {
    let ow = i % OW;
    let oh = (i / OW) % OH;
    let m = (i / (OW * OH)) % M;
    let img = i / (OW * OH * M);
    let plane = (img * C + m / M_PER_GROUP) * H * W;
    var acc = 0.0;
    for (var kh = 0u; kh < KH; kh++) {
        let ih = i32(oh * SH + kh * DH) - PT;
        if (ih >= 0 && ih < i32(H)) {
            for (var kw = 0u; kw < KW; kw++) {
                let iw = i32(ow * SW + kw * DW) - PL;
                if (iw >= 0 && iw < i32(W)) {
                    acc = fma(ld_w((m * KH + kh) * KW + kw), ld_x(plane + u32(ih) * W + u32(iw)), acc);
                }
            }
        }
    }
    st_y(i, act(acc{{EXTRA}}));
}
