//! Lays out a first-boot graph with `layout-rs` (Sugiyama-style layered layout: ranks, crossing
//! reduction, edge routing through connector nodes) and keeps what it drew as plain data
//! ([`Drawing`]): the page template writes the SVG from it, so every name in the picture goes
//! through the template's HTML escaping and the markup (ids, classes, landmarks) stays ours.
use super::boot::{BootGraph, DependencyKind};
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;
use serde::Serialize;

/// Layout measures a label as chars × this (px); the page draws it in 12 px monospace (~7.2 px a char).
const FONT_SIZE: usize = 8;
/// Room around the picture, so that strokes on its edge are not cut.
const MARGIN: f64 = 8.0;

/// A unit's box.
#[derive(Debug, Clone, Serialize)]
pub struct NodeBox {
    /// Index into the graph's units.
    pub unit: usize,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Where its label goes (the box's centre).
    pub cx: f64,
    pub cy: f64,
}

/// An edge's path (SVG path data: whole numbers and the commands M, C, S only).
#[derive(Debug, Clone, Serialize)]
pub struct EdgePath {
    /// Index into the graph's edges.
    pub edge: usize,
    pub d: String,
}

/// The laid-out picture.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drawing {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<NodeBox>,
    pub edges: Vec<EdgePath>,
}

/// Edges point the way time goes: a dependency that must be up first is drawn above the unit
/// that waits for it (`After=`, `Requires=`, `Wants=` point from the named unit to the declaring
/// one; `Before=`, `WantedBy=`, `RequiredBy=` from the declaring unit: a target is reached after
/// the units it wants).
fn drawn_from_declarer(kind: DependencyKind) -> bool {
    matches!(
        kind,
        DependencyKind::Before | DependencyKind::WantedBy | DependencyKind::RequiredBy
    )
}

/// Lays the graph out top to bottom. Every unit gets one box, every edge one path. `tidy` runs
/// layout's edge-crossing reduction (most of its time: ~9 ms for a 12-unit graph); pages with
/// very many graphs go without it.
pub fn draw(graph: &BootGraph, tidy: bool) -> Drawing {
    if graph.units.is_empty() {
        return Drawing::default();
    }
    let mut vg = VisualGraph::new(Orientation::TopToBottom);
    let handles: Vec<_> = graph
        .units
        .iter()
        .enumerate()
        .map(|(i, unit)| {
            let shape = ShapeKind::new_box(&unit.name);
            let dir = Orientation::TopToBottom.flip();
            let size = get_shape_size(dir, &shape, FONT_SIZE, false);
            let look = StyleAttr::new(Color::fast("black"), 1, None, 4, FONT_SIZE);
            vg.add_node(Element::create_with_properties(
                shape,
                look,
                dir,
                size,
                format!("n{i}"),
            ))
        })
        .collect();
    let index = |name: &str| graph.units.iter().position(|u| u.name == name);
    for (i, edge) in graph.edges.iter().enumerate() {
        let (Some(from), Some(to)) = (index(&edge.from), index(&edge.to)) else {
            continue;
        };
        let (a, b) = if drawn_from_declarer(edge.kind) {
            (from, to)
        } else {
            (to, from)
        };
        let mut arrow = Arrow::simple_with_properties("", format!("e{i}"));
        arrow.end = LineEndKind::Arrow;
        vg.add_edge(arrow, handles[a], handles[b]);
    }
    let mut collector = Collector::default();
    vg.do_it(false, !tidy, false, &mut collector);
    collector.finish()
}

/// A render backend that records boxes and arrows instead of writing markup.
#[derive(Default)]
struct Collector {
    drawing: Drawing,
    max_x: f64,
    max_y: f64,
}

impl Collector {
    fn grow(&mut self, p: Point) {
        self.max_x = self.max_x.max(p.x);
        self.max_y = self.max_y.max(p.y);
    }

    fn finish(mut self) -> Drawing {
        self.drawing.width = (self.max_x + 2.0 * MARGIN).ceil();
        self.drawing.height = (self.max_y + 2.0 * MARGIN).ceil();
        for node in &mut self.drawing.nodes {
            node.x += MARGIN;
            node.y += MARGIN;
            node.cx += MARGIN;
            node.cy += MARGIN;
        }
        self.drawing.nodes.sort_by_key(|n| n.unit);
        self.drawing.edges.sort_by_key(|e| e.edge);
        self.drawing
    }
}

fn tagged(properties: &Option<String>, tag: char) -> Option<usize> {
    properties.as_deref()?.strip_prefix(tag)?.parse().ok()
}

/// Whole pixels: a page of a thousand graphs carries every coordinate of every path.
fn number(v: f64) -> String {
    format!("{}", (v + MARGIN).round() as i64)
}

impl RenderBackend for Collector {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        let Some(unit) = tagged(&properties, 'n') else {
            return;
        };
        self.grow(Point::new(xy.x + size.x, xy.y + size.y));
        self.drawing.nodes.push(NodeBox {
            unit,
            x: xy.x,
            y: xy.y,
            width: size.x,
            height: size.y,
            cx: xy.x + size.x / 2.0,
            cy: xy.y + size.y / 2.0,
        });
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    /// `path` is `[(point, control)]`: the exit vector of the first point, then the entry
    /// vectors of the others (layout's own SVG backend draws it as `M C S S …`).
    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        let Some(edge) = tagged(&properties, 'e') else {
            return;
        };
        if path.len() < 2 {
            return;
        }
        for (p, c) in path {
            self.grow(*p);
            self.grow(*c);
        }
        // The same path data as layout's own SVG backend, `M p0 C c0, p1, c1 S p2, c2 …`, without
        // the optional spaces.
        let mut d = format!("M{} {}C", number(path[0].0.x), number(path[0].0.y));
        let mut points = vec![path[0].1, path[1].0, path[1].1];
        for (p, c) in &path[2..] {
            points.extend([*p, *c]);
        }
        for (i, p) in points.iter().enumerate() {
            if i == 3 || (i > 3 && i % 2 == 1) {
                d.push('S');
            } else if i > 0 {
                d.push(',');
            }
            d.push_str(&format!("{} {}", number(p.x), number(p.y)));
        }
        self.drawing.edges.push(EdgePath { edge, d });
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::boot::{Dependency, UnitNode};

    fn unit(name: &str) -> UnitNode {
        UnitNode {
            name: name.into(),
            path: None,
            step: None,
            readiness: false,
        }
    }

    #[test]
    fn one_box_per_unit_and_one_path_per_edge() {
        let edge = |from: &str, to: &str, kind| Dependency {
            from: from.into(),
            to: to.into(),
            kind,
        };
        let graph = BootGraph {
            units: [
                "a.service",
                "b.service",
                "runlast.target",
                "multi-user.target",
            ]
            .map(unit)
            .to_vec(),
            edges: vec![
                edge("a.service", "multi-user.target", DependencyKind::After),
                edge("b.service", "a.service", DependencyKind::After),
                edge("a.service", "runlast.target", DependencyKind::WantedBy),
                edge("b.service", "runlast.target", DependencyKind::WantedBy),
                edge("b.service", "multi-user.target", DependencyKind::After),
            ],
        };
        let drawing = draw(&graph, true);
        assert_eq!(drawing.nodes.len(), 4);
        assert_eq!(drawing.edges.len(), 5);
        assert!(drawing.width > 0.0 && drawing.height > 0.0);
        // Time flows down: multi-user.target is above a.service, a above b.
        let y = |i: usize| drawing.nodes[i].y;
        assert!(y(3) < y(0) && y(0) < y(1), "{drawing:?}");
        assert!(
            drawing
                .edges
                .iter()
                .all(|e| e.d.starts_with('M') && e.d.contains('C'))
        );
    }
}
