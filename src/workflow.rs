//! The workflow: the order in which a stack is built, checked and proven, written once.
//!
//! [`WORKFLOW`] drives the `demo` command, `generate_from_spec` (and the `generate` command),
//! the MCP server's instructions and the order of the CLI's `--help`. Adding a stage (a new
//! generator, or a command such as `apply`) is adding a row here; the exhaustive matches over
//! [`Generator`] then show every place that must learn it.

/// A generator tool: writes objects into the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    Gateway,
    RateLimit,
    CircuitBreaker,
    Tls,
    ScaledObject,
    LlmRoute,
}

/// What a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Does {
    /// Writes objects through a generator tool.
    Generate(Generator),
    /// Reads the stack and reports (validate, verify).
    Check,
    /// Talks to the cluster (apply writes only when confirmed; status reads).
    Cluster,
}

/// One stage of the workflow.
#[derive(Debug, Clone, Copy)]
pub struct Stage {
    /// The MCP tool's name.
    pub tool: &'static str,
    /// The CLI command that performs the stage (the generators share `generate`, which runs
    /// them all from a spec).
    pub command: &'static str,
    pub does: Does,
}

/// The stages, in order.
pub const WORKFLOW: &[Stage] = &[
    Stage {
        tool: "generate_gateway",
        command: "generate",
        does: Does::Generate(Generator::Gateway),
    },
    Stage {
        tool: "add_rate_limit",
        command: "generate",
        does: Does::Generate(Generator::RateLimit),
    },
    Stage {
        tool: "add_circuit_breaker",
        command: "generate",
        does: Does::Generate(Generator::CircuitBreaker),
    },
    Stage {
        tool: "generate_tls",
        command: "generate",
        does: Does::Generate(Generator::Tls),
    },
    Stage {
        tool: "generate_scaledobject",
        command: "generate",
        does: Does::Generate(Generator::ScaledObject),
    },
    Stage {
        tool: "add_llm_route",
        command: "generate",
        does: Does::Generate(Generator::LlmRoute),
    },
    Stage {
        tool: "validate",
        command: "validate",
        does: Does::Check,
    },
    Stage {
        tool: "apply",
        command: "apply",
        does: Does::Cluster,
    },
    Stage {
        tool: "status",
        command: "status",
        does: Does::Cluster,
    },
    Stage {
        tool: "verify",
        command: "verify",
        does: Does::Check,
    },
];

impl Generator {
    /// The generator's MCP tool name.
    pub fn tool(self) -> &'static str {
        WORKFLOW
            .iter()
            .find(|s| s.does == Does::Generate(self))
            .map_or("", |s| s.tool)
    }
}

/// The generators, in workflow order.
pub fn generators() -> impl Iterator<Item = Generator> {
    WORKFLOW.iter().filter_map(|s| match s.does {
        Does::Generate(g) => Some(g),
        Does::Check | Does::Cluster => None,
    })
}

/// The offline part of the workflow as the server's instructions state it:
/// `generate_gateway -> add_rate_limit -> ... -> validate` (verify needs the applied stack).
pub fn offline_chain() -> String {
    WORKFLOW
        .iter()
        .take_while(|s| s.tool != "verify" && s.does != Does::Cluster)
        .map(|s| s.tool)
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// The stages after `validate` (they need a cluster or the applied stack): `apply -> status
/// -> verify`.
pub fn after_validate() -> String {
    WORKFLOW
        .iter()
        .skip_while(|s| s.tool != "validate")
        .skip(1)
        .map(|s| s.tool)
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// The CLI commands of the workflow, each once, in workflow order.
pub fn commands() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for s in WORKFLOW {
        if !out.contains(&s.command) {
            out.push(s.command);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generator_is_in_the_table_once() {
        let all = [
            Generator::Gateway,
            Generator::RateLimit,
            Generator::CircuitBreaker,
            Generator::Tls,
            Generator::ScaledObject,
            Generator::LlmRoute,
        ];
        for g in all {
            let n = WORKFLOW
                .iter()
                .filter(|s| s.does == Does::Generate(g))
                .count();
            assert_eq!(n, 1, "{g:?}");
            assert!(!g.tool().is_empty());
        }
        assert_eq!(generators().count(), all.len());
    }

    #[test]
    fn the_chain_and_commands_follow_the_table() {
        assert_eq!(
            offline_chain(),
            "generate_gateway -> add_rate_limit -> add_circuit_breaker -> generate_tls -> \
             generate_scaledobject -> add_llm_route -> validate"
        );
        assert_eq!(after_validate(), "apply -> status -> verify");
        assert_eq!(
            commands(),
            ["generate", "validate", "apply", "status", "verify"]
        );
    }

    /// The skill states the order in prose for a reader without the server: it must be the
    /// table's order.
    #[test]
    fn the_skill_states_the_same_order() {
        let skill = include_str!("../skill/traffic-engineer/SKILL.md");
        let tools: Vec<&str> = generators().map(Generator::tool).collect();
        let positions: Vec<usize> = tools
            .iter()
            .map(|t| {
                skill
                    .find(&format!("`{t}` ->"))
                    .or_else(|| skill.find(&format!("`{t}`.")))
                    .unwrap_or_else(|| panic!("SKILL.md does not list `{t}` in the workflow"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "SKILL.md lists the generators in another order than workflow::WORKFLOW: {tools:?}"
        );
    }
}
