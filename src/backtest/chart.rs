//! The backtest's chart (`reports/replay_FROM_TO.svg`): the account's equity with its
//! drawdowns shaded, and the buy-and-hold benchmark beside it on the same axes — drawn as
//! `reports/equity.svg` is (see `crate::report::equity_svg`).

use plotters::prelude::*;

use super::Point;

/// The chart as SVG. `benchmark` is `None` when no symbol could be bought on the first session.
pub fn svg(equity: &[Point], benchmark: Option<&[Point]>) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        // One axis for both curves: they start from the same equity.
        let both: Vec<Point> = equity
            .iter()
            .chain(benchmark.unwrap_or_default())
            .copied()
            .collect();
        let range = crate::report::y_range(&both);
        if equity.len() < 2 || range.is_none() {
            let note = if equity.len() < 2 {
                "no equity recorded in this range"
            } else {
                "equity values that no chart can show (not finite numbers)"
            };
            root.draw(&Text::new(note, (20, 20), ("sans-serif", 16)))
                .map_err(|e| e.to_string())?;
        } else if let Some((lo, hi, pad)) = range {
            let n = equity.len();
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    "Equity (drawdowns shaded) and equal-weight buy-and-hold",
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(28)
                .y_label_area_size(70)
                .build_cartesian_2d(0..n - 1, (lo - pad)..(hi + pad))
                .map_err(|e| e.to_string())?;
            crate::report::mesh_and_drawdowns(&mut chart, equity)?;
            // Both series hold the same sessions (the benchmark is marked on the equity's).
            if let Some(bench) = benchmark {
                chart
                    .draw_series(LineSeries::new(
                        bench.iter().enumerate().map(|(i, c)| (i, c.1)),
                        BLACK.mix(0.6),
                    ))
                    .map_err(|e| e.to_string())?
                    .label("buy-and-hold")
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.6)));
            }
            chart
                .draw_series(LineSeries::new(
                    equity.iter().enumerate().map(|(i, c)| (i, c.1)),
                    &BLUE,
                ))
                .map_err(|e| e.to_string())?
                .label("equity")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn curve(values: &[f64]) -> Vec<Point> {
        let first = NaiveDate::from_ymd_opt(2016, 1, 4).unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (first + chrono::Days::new(i as u64), *v))
            .collect()
    }

    #[test]
    fn both_curves_are_drawn_and_an_empty_range_says_so() {
        let equity = curve(&[100.0, 90.0, 105.0]);
        let bench = curve(&[100.0, 101.0, 99.0]);
        let drawn = svg(&equity, Some(&bench)).unwrap();
        assert!(drawn.contains("<polygon") && drawn.contains("buy-and-hold"));
        assert!(drawn.matches("<polyline").count() >= 2, "{drawn}");
        assert!(svg(&curve(&[100.0]), None)
            .unwrap()
            .contains("no equity recorded"));
        assert!(svg(&curve(&[100.0, f64::NAN]), None)
            .unwrap()
            .contains("not finite numbers"));
    }
}
