// GATHER: y[o, j, i] = data[o, idx[j], i], data viewed as [outer, AXIS, INNER]. An index outside
// [-AXIS, AXIS) is reported through the status buffer and writes 0, never reads out of bounds.
const INNER = {{INNER}};
const N_IDX = {{N_IDX}};
const AXIS = {{AXIS}};

// idx[j] as a position in [0, AXIS), or -1 (after reporting it) when out of range.
fn position(j: u32) -> i32 {
    let v = ld_idx(j);
    {{POSITION}}
}

fn element(i: u32) {
    let inner = i % INNER;
    let j = (i / INNER) % N_IDX;
    let o = i / (INNER * N_IDX);
    let p = position(j);
    if (p < 0) {
        str_y(i, {{ZERO}});
        return;
    }
    str_y(i, ldr_data((o * u32(AXIS) + u32(p)) * INNER + inner));
}
