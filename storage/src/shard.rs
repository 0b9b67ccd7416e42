//! Shard planning over a streamed listing in O(max_shards) memory.
//!
//! A job record must stay O(shards), and a bucket may hold a million keys, so the plan is made in
//! one pass without keeping the listing: the planner keeps every `step`-th key (positions that
//! are multiples of `step`, counting from 1), and when that sample grows past `2 * max_shards`
//! it drops every other entry and doubles `step`. The sample then always has at least
//! `max_shards` entries once `step > 1`, so `step <= total / max_shards`: shard sizes can be
//! balanced to within one step.

use crds::ShardPlan;

/// Plans shards from keys pushed in listing order.
#[derive(Clone, Debug)]
pub struct ShardPlanner {
    max_shards: usize,
    step: u64,
    total: u64,
    /// `sample[j]` is the key at position `(j + 1) * step`.
    sample: Vec<String>,
    last: Option<String>,
}

impl ShardPlanner {
    /// A planner for at most `max_shards` shards (0 is taken as 1).
    pub fn new(max_shards: usize) -> Self {
        ShardPlanner {
            max_shards: max_shards.max(1),
            step: 1,
            total: 0,
            sample: Vec::new(),
            last: None,
        }
    }

    /// Adds the next key; keys must come in listing (byte) order.
    pub fn push(&mut self, key: &str) {
        debug_assert!(
            self.last.as_deref().is_none_or(|l| l < key),
            "keys out of order"
        );
        self.total += 1;
        if self.total.is_multiple_of(self.step) {
            self.sample.push(key.to_owned());
            if self.sample.len() > 2 * self.max_shards {
                // Keep the entries at positions that are multiples of 2 * step: odd indices.
                let old = std::mem::take(&mut self.sample);
                self.sample = old.into_iter().skip(1).step_by(2).collect();
                self.step *= 2;
            }
        }
        match &mut self.last {
            Some(last) => {
                last.clear();
                last.push_str(key);
            }
            None => self.last = Some(key.to_owned()),
        }
    }

    /// Chooses `min(total, max_shards)` shards whose sizes differ by at most one step.
    pub fn finish(self) -> ShardPlan {
        let total = self.total;
        let Some(last) = self.last else {
            return ShardPlan {
                total: 0,
                bounds: Vec::new(),
                sizes: Vec::new(),
            };
        };
        let k = (self.max_shards as u64).min(total);
        let step = self.step;
        // Shard ends other than the last must be sampled positions (multiples of step), so the
        // first k-1 sizes are multiples of step: each gets q or q+1 steps, where q*step is the
        // ideal size rounded down (q >= 1 because step <= total / max_shards). The number of
        // (q+1)-sized shards is chosen so that the last shard, which takes the rest, also lies
        // in [q*step, (q+1)*step]: then all sizes differ by at most one step.
        let q = total / k / step;
        let others = k - 1;
        let steps_before_last = (total / step - q).clamp(others * q, others * (q + 1));
        let extra = steps_before_last - others * q;
        let mut bounds = Vec::with_capacity(k as usize);
        let mut sizes = Vec::with_capacity(k as usize);
        let mut end = 0u64; // position (1-based) of the previous shard's last key
        for j in 0..others {
            // Spread the larger shards evenly.
            let bigger = (j + 1) * extra / others > j * extra / others;
            let size = (q + u64::from(bigger)) * step;
            end += size;
            bounds.push(self.sample[(end / step - 1) as usize].clone());
            sizes.push(size);
        }
        bounds.push(last);
        sizes.push(total - end);
        ShardPlan {
            total,
            bounds,
            sizes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> String {
        format!("k{i:08}")
    }

    /// Checks a plan against the keys 1..=n (positions are the numbers in the keys).
    fn check(n: u64, max_shards: usize) {
        let mut p = ShardPlanner::new(max_shards);
        for i in 1..=n {
            p.push(&key(i));
        }
        let step = p.step;
        assert!(p.sample.len() <= 2 * max_shards.max(1));
        let plan = p.finish();
        let k = (max_shards.max(1) as u64).min(n) as usize;
        assert_eq!(plan.total, n);
        assert_eq!(plan.len(), k, "n={n} max={max_shards}");
        assert_eq!(plan.sizes.len(), k);
        assert_eq!(plan.sizes.iter().sum::<u64>(), n);
        // Every key lies in exactly one shard, and sizes match the ranges.
        let mut prev = 0u64;
        for (i, b) in plan.bounds.iter().enumerate() {
            let end: u64 = b[1..].parse().unwrap();
            assert!(
                end > prev,
                "empty or backwards shard {i}: n={n} max={max_shards}"
            );
            assert_eq!(plan.sizes[i], end - prev, "size of shard {i}");
            let range = plan.shard_range(i);
            assert_eq!(
                range.start_after,
                if i == 0 { None } else { Some(key(prev)) }
            );
            assert_eq!(range.last, Some(key(end)));
            prev = end;
        }
        assert_eq!(prev, n);
        let (min, max) = (
            plan.sizes.iter().min().unwrap(),
            plan.sizes.iter().max().unwrap(),
        );
        assert!(
            max - min <= step + 1,
            "unbalanced: n={n} max={max_shards} step={step} {:?}",
            plan.sizes
        );
    }

    #[test]
    fn plans_cover_every_key_once_and_are_balanced() {
        for n in 1..=300 {
            for m in [1, 2, 3, 7, 16] {
                check(n, m);
            }
        }
        for n in [1_000, 4_097, 12_345, 65_536, 100_000] {
            for m in [1, 5, 64, 100, 1_000] {
                check(n, m);
            }
        }
    }

    #[test]
    fn an_empty_bucket_has_an_empty_plan() {
        let plan = ShardPlanner::new(8).finish();
        assert_eq!(
            plan,
            ShardPlan {
                total: 0,
                bounds: vec![],
                sizes: vec![]
            }
        );
        assert!(plan.is_empty());
    }

    #[test]
    fn a_plan_round_trips_through_json() {
        let mut p = ShardPlanner::new(3);
        for i in 1..=10 {
            p.push(&key(i));
        }
        let plan = p.finish();
        let back: ShardPlan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(back, plan);
    }
}
