/**
 * How ingest discovers and reads a dataset's files, from the config's `data` section: one place,
 * so that every other reader of the same files (`pipeline annotate`) sees the cases, volumes and
 * labels exactly as ingest will.
 */
import type { DataConfig } from "./config.ts";
import type { DiscoverOptions } from "../io/dataset.ts";
import type { ReadCaseOptions } from "../io/cases.ts";

type Data = typeof DataConfig.Type;

export const discoverOptions = (data: Data): DiscoverOptions => ({
  hdf5LabelKey: data.hdf5.label,
});

export const readOptions = (data: Data): ReadCaseOptions => ({
  classes: data.classes.length,
  hdf5: { axisOrder: data.hdf5.axes, imageKey: data.hdf5.image, labelKey: data.hdf5.label },
});
