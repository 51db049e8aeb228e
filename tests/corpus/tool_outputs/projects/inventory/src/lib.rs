use std::collections::HashMap;

pub struct Inventory { items: HashMap<String, u32> }

impl Inventory {
    pub fn new() -> Self { Inventory { items: HashMap::new() } }
    pub fn add(&mut self, name: &str, count: u32) { *self.items.entry(name.to_string()).or_insert(0) += count; }
    pub fn take(&mut self, name: &str, count: u32) -> Result<u32, String> {
        let left = self.items.get_mut(name).ok_or(format!("no {name}"))?;
        if *left < count { return Err("not enough".into()); }
        *left -= count;
        Ok(left)
    }
    pub fn total(&self) -> u64 { self.items.values().sum() }
    pub fn names(&self) -> Vec<&String> { let v = self.items.keys().collect(); v.sort(); v }
}
