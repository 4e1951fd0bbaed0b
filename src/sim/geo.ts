/** Spherical geometry for trajectories, on the shared sphere of src/geo.ts, with points as {latitude, longitude}. */
import { distanceKm as distanceKmLatLon, R_KM, RAD } from '../geo.js'

export interface Point {
  latitude: number
  longitude: number
}

export function distanceKm(a: Point, b: Point): number {
  return distanceKmLatLon(a.latitude, a.longitude, b.latitude, b.longitude)
}

/** Initial bearing from a to b, degrees 0-360 from north. */
export function bearing(a: Point, b: Point): number {
  const φ1 = a.latitude * RAD
  const φ2 = b.latitude * RAD
  const Δλ = (b.longitude - a.longitude) * RAD
  const y = Math.sin(Δλ) * Math.cos(φ2)
  const x = Math.cos(φ1) * Math.sin(φ2) - Math.sin(φ1) * Math.cos(φ2) * Math.cos(Δλ)
  return (Math.atan2(y, x) / RAD + 360) % 360
}

/** The point `km` away from p along `bearingDeg`. */
export function destination(p: Point, bearingDeg: number, km: number): Point {
  const δ = km / R_KM
  const θ = bearingDeg * RAD
  const φ1 = p.latitude * RAD
  const λ1 = p.longitude * RAD
  const φ2 = Math.asin(Math.sin(φ1) * Math.cos(δ) + Math.cos(φ1) * Math.sin(δ) * Math.cos(θ))
  const λ2 = λ1 + Math.atan2(Math.sin(θ) * Math.sin(δ) * Math.cos(φ1), Math.cos(δ) - Math.sin(φ1) * Math.sin(φ2))
  return { latitude: φ2 / RAD, longitude: ((λ2 / RAD + 540) % 360) - 180 }
}

/** Linear interpolation: segments here are a few tens of km, where it is indistinguishable from the great circle. */
export function lerp(a: Point, b: Point, f: number): Point {
  return { latitude: a.latitude + (b.latitude - a.latitude) * f, longitude: a.longitude + (b.longitude - a.longitude) * f }
}
