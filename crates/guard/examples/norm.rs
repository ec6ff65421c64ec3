//! Prints the normalised views of each stdin line (a debugging aid for rule authors).
fn main() {
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let n = mcpflow_guard::Normalized::new(&line);
        println!("main:     {:?}", n.main.as_str());
        if let Some(l) = n.leet() {
            println!("leet:     {:?}", l.as_str());
        }
        if let Some(d) = n.despaced() {
            println!("despaced: {:?}", d.as_str());
        }
    }
}
