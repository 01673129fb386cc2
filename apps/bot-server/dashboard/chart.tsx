// A time-series chart of the last ticks, drawn by uPlot (small, fast, canvas: fine at one point a second).
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Tick } from "./api.js";

const colours = ["#2563eb", "#dc2626", "#16a34a"];

export function Chart(props: { title: string; ticks: Tick[]; series: ((tick: Tick) => number | null)[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const data = (): uPlot.AlignedData => [props.ticks.map((tick) => tick.at / 1000), ...props.series.map((value) => props.ticks.map(value))];
  useEffect(() => {
    if (box.current === null) return;
    plot.current = new uPlot(
      {
        title: props.title,
        width: 360,
        height: 160,
        series: [{}, ...props.series.map((_, i) => ({ stroke: colours[i % colours.length], width: 1.5, spanGaps: true }))],
        axes: [{}, { size: 50 }],
        legend: { show: false },
      },
      data(),
      box.current,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => plot.current?.setData(data()), [props.ticks]);
  return <div class="chart" ref={box} />;
}
