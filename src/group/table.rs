//! Validation of user-supplied Cayley tables ([`Group::from_table`]).

use super::{Family, Group};
use crate::{Error, Result};

impl Group {
    /// Builds a group from a Cayley table `table[a][b]` = a·b over `0..n`, validating every
    /// group axiom; element 0 **must** be the identity (the table is never reordered).
    ///
    /// Checks, in this order, each failure naming the offending elements as `#index (name)`:
    /// square shape and entries in range; 0 is a two-sided identity; every row and every
    /// column is a permutation (so unique two-sided inverses exist once associativity holds);
    /// associativity. Associativity uses Light's test: it checks (x·s)·y = x·(s·y) for all
    /// x, y and every s in a generating set S. This is exhaustive: the set of such "middle"
    /// elements m is closed under the product ((x·(mn))·y = ((x·m)·n)·y = (x·m)·(n·y) =
    /// x·(m·(n·y)) = x·((m·n)·y)), so once it contains S it is all of G.
    ///
    /// `names` default to `e, g1, g2, …`; the group is named `"G<n>"` (rename with
    /// [`Group::with_name`]).
    ///
    /// ```
    /// use eqens::group::Group;
    ///
    /// // Z/3 from its addition table; identity first.
    /// let z3 = Group::from_table(vec![vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1]], None)?;
    /// assert!(z3.same_structure(&Group::cyclic(3)));
    /// // Not a group (row 1 repeats an element): a clear error, not a panic.
    /// assert!(Group::from_table(vec![vec![0, 1], vec![1, 1]], None).is_err());
    /// # Ok::<(), eqens::Error>(())
    /// ```
    pub fn from_table(table: Vec<Vec<usize>>, names: Option<Vec<String>>) -> Result<Group> {
        let n = table.len();
        if n == 0 {
            return Err(Error::NotAGroup(
                "the table is empty (a group has an identity)".into(),
            ));
        }
        if n > u32::MAX as usize {
            return Err(Error::NotAGroup(format!("order {n} is too large")));
        }
        let names = match names {
            Some(names) if names.len() != n => {
                return Err(Error::NotAGroup(format!(
                    "{} element names for a table of order {n}",
                    names.len()
                )))
            }
            Some(names) => names,
            None => (0..n)
                .map(|a| {
                    if a == 0 {
                        "e".to_string()
                    } else {
                        format!("g{a}")
                    }
                })
                .collect(),
        };
        let el = |a: usize| format!("#{a} ({})", names[a]);
        check_entries(&table, &el)?;
        check_identity(&table, &el)?;
        check_latin(&table, &el)?;
        check_associative(&table, &el)?;
        let flat = table.iter().flatten().map(|&c| c as u32).collect();
        Ok(Group::from_trusted_table(
            format!("G{n}"),
            Family::Other,
            n,
            flat,
            names,
        ))
    }
}

/// A set S whose closure under the (not yet known to be associative) product is everything:
/// greedily adds the smallest element not yet reached. The closure is maintained with a
/// worklist so that every pair of reached elements is multiplied both ways exactly once.
fn magma_generating_set(table: &[Vec<usize>]) -> Vec<usize> {
    let n = table.len();
    let mut reached = vec![false; n];
    let mut members: Vec<usize> = Vec::new();
    let mut gens = Vec::new();
    for candidate in 0..n {
        if reached[candidate] {
            continue;
        }
        gens.push(candidate);
        let mut work = vec![candidate];
        reached[candidate] = true;
        while let Some(x) = work.pop() {
            members.push(x);
            // `members` now holds x; multiply x with every member (itself included).
            for &y in &members {
                for z in [table[x][y], table[y][x]] {
                    if !reached[z] {
                        reached[z] = true;
                        work.push(z);
                    }
                }
            }
        }
    }
    gens
}

/// Every row has n entries, each an element.
fn check_entries(table: &[Vec<usize>], el: &dyn Fn(usize) -> String) -> Result<()> {
    let n = table.len();
    for (a, row) in table.iter().enumerate() {
        if row.len() != n {
            return Err(Error::NotAGroup(format!(
                "row of {} has {} entries, expected {n}",
                el(a),
                row.len()
            )));
        }
        if let Some(b) = row.iter().position(|&c| c >= n) {
            return Err(Error::NotAGroup(format!(
                "{}·{} = {} is not an element (order {n})",
                el(a),
                el(b),
                row[b]
            )));
        }
    }
    Ok(())
}

/// Element 0 is a two-sided identity.
fn check_identity(table: &[Vec<usize>], el: &dyn Fn(usize) -> String) -> Result<()> {
    for (a, row) in table.iter().enumerate() {
        if table[0][a] != a {
            return Err(Error::NotAGroup(format!(
                "element 0 must be the identity, but {}·{} = {}",
                el(0),
                el(a),
                el(table[0][a])
            )));
        }
        if row[0] != a {
            return Err(Error::NotAGroup(format!(
                "element 0 must be the identity, but {}·{} = {}",
                el(a),
                el(0),
                el(row[0])
            )));
        }
    }
    Ok(())
}

/// A Latin square: each row and each column hits every element exactly once.
fn check_latin(table: &[Vec<usize>], el: &dyn Fn(usize) -> String) -> Result<()> {
    let n = table.len();
    // Latin square: each row and each column hits every element exactly once.
    let mut seen = vec![usize::MAX; n];
    for (a, row) in table.iter().enumerate() {
        seen.fill(usize::MAX);
        for (b, &c) in row.iter().enumerate() {
            if seen[c] != usize::MAX {
                return Err(Error::NotAGroup(format!(
                    "{}·{} = {}·{} = {}: a row repeats an element",
                    el(a),
                    el(seen[c]),
                    el(a),
                    el(b),
                    el(c)
                )));
            }
            seen[c] = b;
        }
    }
    for b in 0..n {
        seen.fill(usize::MAX);
        for (a, row) in table.iter().enumerate() {
            let c = row[b];
            if seen[c] != usize::MAX {
                return Err(Error::NotAGroup(format!(
                    "{}·{} = {}·{} = {}: a column repeats an element",
                    el(seen[c]),
                    el(b),
                    el(a),
                    el(b),
                    el(c)
                )));
            }
            seen[c] = a;
        }
    }
    Ok(())
}

/// Associativity, checked on a generating set of the magma (enough for a Latin square with identity).
fn check_associative(table: &[Vec<usize>], el: &dyn Fn(usize) -> String) -> Result<()> {
    let n = table.len();
    for s in magma_generating_set(table) {
        for x in 0..n {
            let xs = table[x][s];
            for y in 0..n {
                if table[xs][y] != table[x][table[s][y]] {
                    return Err(Error::NotAGroup(format!(
                        "not associative: ({}·{})·{} = {} but {}·({}·{}) = {}",
                        el(x),
                        el(s),
                        el(y),
                        el(table[xs][y]),
                        el(x),
                        el(s),
                        el(y),
                        el(table[x][table[s][y]])
                    )));
                }
            }
        }
    }
    Ok(())
}
