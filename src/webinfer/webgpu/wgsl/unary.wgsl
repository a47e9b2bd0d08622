// UNARY: y[i] = act(x[i]).

fn act(x: f32) -> f32 {
    return {{ACT}};
}

fn element(i: u32) {
    st_y(i, act(ld_x(i)));
}
