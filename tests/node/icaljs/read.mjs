// Read an iCalendar file from standard input with Mozilla's ical.js and print,
// as JSON, each event's UID and its start and end in UTC (ISO 8601, "Z").
//
// Times are resolved only through the VTIMEZONEs in the file: the zone
// registry is emptied (it keeps only UTC) and each VTIMEZONE of the file is
// registered in it, and an event time whose zone is not built from one of
// the file's own VTIMEZONE components is an error (exit 1), never a guess.
import { readFileSync } from "node:fs";

import ICAL from "ical.js";

const text = readFileSync(0, "utf8");
const calendar = new ICAL.Component(ICAL.parse(text));

ICAL.TimezoneService.reset();
const components = calendar.getAllSubcomponents("vtimezone");
const zones = new Map();
for (const component of components) {
  const zone = new ICAL.Timezone(component);
  ICAL.TimezoneService.register(zone);
  zones.set(zone.tzid, component);
}

function instant(property, uid) {
  const tzid = property.getParameter("tzid");
  const time = property.getFirstValue();
  if (tzid !== undefined && tzid !== null) {
    if (!zones.has(tzid) || time.zone.component !== zones.get(tzid) || time.zone.tzid !== tzid) {
      throw new Error(`${uid}: TZID ${tzid} is not resolved by the file's own VTIMEZONE`);
    }
  } else if (time.zone !== ICAL.Timezone.utcTimezone) {
    throw new Error(`${uid}: a floating time has no instant`);
  }
  return new Date(time.toUnixTime() * 1000).toISOString().replace(".000Z", "Z");
}

const events = calendar.getAllSubcomponents("vevent").map((component) => {
  const uid = component.getFirstPropertyValue("uid");
  return {
    uid,
    start: instant(component.getFirstProperty("dtstart"), uid),
    end: instant(component.getFirstProperty("dtend"), uid),
  };
});
process.stdout.write(JSON.stringify({ zones: [...zones.keys()], events }) + "\n");
