// GEMM operands for gemm.wgsl: batch z at A/B offsets from their batch strides; Y batches contiguous;
// y = act(ALPHA * acc + BETA * bias).
fn act(x: f32) -> f32 {
    return {{ACT}};
}

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    return ld_a({{A_BATCH}} + {{A_INDEX}});
}

{{LOAD_A4}}

alias Column = u32;  // where column n starts

fn column(z: u32, n: u32) -> Column {
    return {{B_BATCH}} + {{B_COLUMN}};
}

fn load_b(col: Column, k: u32) -> f32 {
    return ld_b(col + {{B_ROW}});
}

{{LOAD_B4}}

fn epilogue(z: u32, m: u32, n: u32, acc: f32) {
    st_y(z * (M * N) + m * N + n, act({{VALUE}}));
}
