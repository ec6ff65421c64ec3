fn main() {
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let i = mcpflow_guard::Instructions::parse(&line);
        println!("{:?}  <=  {}", i.subjects(), &line[..line.len().min(120)]);
    }
}
