// CONV operands for gemm.wgsl (implicit GEMM, z = group): A = W [M_G, K] with K = C_G * KH * KW;
// B = the im2col matrix [K, N_IMG * OH * OW], read straight from X (zero in the pads);
// y = act(acc + bias + residual) into Y [N_IMG, M_ALL, OH, OW].
const C = {{C}};
{{WINDOW}}
const M_ALL = {{M_ALL}};
const C_G = {{C_G}};

fn act(x: f32) -> f32 {
    return {{ACT}};
}

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    return ld_w((z * M + m) * K + k);
}

{{LOAD_A4}}

// An output pixel's window: where its image's group channels start and its top-left tap.
struct Column {
    plane: u32,
    ih: i32,
    iw: i32,
}

fn column(z: u32, n: u32) -> Column {
    let img = n / (OH * OW);
    return Column((img * C + z * C_G) * H * W, i32(n / OW % OH * SH) - PT, i32(n % OW * SW) - PL);
}

fn load_b(col: Column, k: u32) -> f32 {
    let c = k / (KH * KW);
    let ih = col.ih + i32(k / KW % KH * DH);
    let iw = col.iw + i32(k % KW * DW);
{{PAD_CHECK}}
    return ld_x(col.plane + (c * H + u32(ih)) * W + u32(iw));
}

fn epilogue(z: u32, m: u32, n: u32, acc: f32) {
    let channel = z * M + m;
    let img = n / (OH * OW);
    let i = (img * M_ALL + channel) * (OH * OW) + n % (OH * OW);
    st_y(i, act(acc{{EXTRA}}));
}
