use eqens::nn::analysis::*;
use eqens::nn::Support;
use eqens::rep::GridGroup;

#[test]
fn smoke() {
    for s in ["plus", "plus-corner", "full"] {
        let r = analyze_support(GridGroup::C4, &Support::parse(s).unwrap(), 6, 2).unwrap();
        println!("{}", render_table(&r));
    }
}
