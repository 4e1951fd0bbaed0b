/**
 * Chinese cities the simulated hazmat trucks drive between: approximate city-centre coordinates
 * (WGS-84 degrees, public geographic facts), the plate's province abbreviation and the GB/T 2260
 * province code used in 0x0100. Several are petrochemical hubs where hazmat traffic concentrates.
 */
export interface City {
  name: string
  latitude: number
  longitude: number
  /** plate prefix, e.g. "鲁" */
  plateProvince: string
  /** plate letter of the city's issuing office, e.g. "E" for Dongying */
  plateLetter: string
  /** GB/T 2260 province code (first two digits) */
  province: number
}

export const CITIES: readonly City[] = [
  { name: 'Beijing', latitude: 39.9042, longitude: 116.4074, plateProvince: '京', plateLetter: 'A', province: 11 },
  { name: 'Tianjin', latitude: 39.3434, longitude: 117.3616, plateProvince: '津', plateLetter: 'A', province: 12 },
  { name: 'Shijiazhuang', latitude: 38.0428, longitude: 114.5149, plateProvince: '冀', plateLetter: 'A', province: 13 },
  { name: 'Tangshan', latitude: 39.6305, longitude: 118.1802, plateProvince: '冀', plateLetter: 'B', province: 13 },
  { name: 'Taiyuan', latitude: 37.8706, longitude: 112.5489, plateProvince: '晋', plateLetter: 'A', province: 14 },
  { name: 'Hohhot', latitude: 40.8424, longitude: 111.749, plateProvince: '蒙', plateLetter: 'A', province: 15 },
  { name: 'Shenyang', latitude: 41.8057, longitude: 123.4315, plateProvince: '辽', plateLetter: 'A', province: 21 },
  { name: 'Dalian', latitude: 38.914, longitude: 121.6147, plateProvince: '辽', plateLetter: 'B', province: 21 },
  { name: 'Changchun', latitude: 43.8171, longitude: 125.3235, plateProvince: '吉', plateLetter: 'A', province: 22 },
  { name: 'Harbin', latitude: 45.8038, longitude: 126.5349, plateProvince: '黑', plateLetter: 'A', province: 23 },
  { name: 'Shanghai', latitude: 31.2304, longitude: 121.4737, plateProvince: '沪', plateLetter: 'A', province: 31 },
  { name: 'Nanjing', latitude: 32.0603, longitude: 118.7969, plateProvince: '苏', plateLetter: 'A', province: 32 },
  { name: 'Suzhou', latitude: 31.299, longitude: 120.5853, plateProvince: '苏', plateLetter: 'E', province: 32 },
  { name: 'Hangzhou', latitude: 30.2741, longitude: 120.1551, plateProvince: '浙', plateLetter: 'A', province: 33 },
  { name: 'Ningbo', latitude: 29.8683, longitude: 121.544, plateProvince: '浙', plateLetter: 'B', province: 33 },
  { name: 'Hefei', latitude: 31.8206, longitude: 117.2272, plateProvince: '皖', plateLetter: 'A', province: 34 },
  { name: 'Fuzhou', latitude: 26.0745, longitude: 119.2965, plateProvince: '闽', plateLetter: 'A', province: 35 },
  { name: 'Xiamen', latitude: 24.4798, longitude: 118.0894, plateProvince: '闽', plateLetter: 'D', province: 35 },
  { name: 'Nanchang', latitude: 28.682, longitude: 115.8579, plateProvince: '赣', plateLetter: 'A', province: 36 },
  { name: 'Jinan', latitude: 36.6512, longitude: 117.1201, plateProvince: '鲁', plateLetter: 'A', province: 37 },
  { name: 'Qingdao', latitude: 36.0671, longitude: 120.3826, plateProvince: '鲁', plateLetter: 'B', province: 37 },
  { name: 'Zibo', latitude: 36.8131, longitude: 118.0548, plateProvince: '鲁', plateLetter: 'C', province: 37 },
  { name: 'Dongying', latitude: 37.4346, longitude: 118.6748, plateProvince: '鲁', plateLetter: 'E', province: 37 },
  { name: 'Zhengzhou', latitude: 34.7466, longitude: 113.6253, plateProvince: '豫', plateLetter: 'A', province: 41 },
  { name: 'Wuhan', latitude: 30.5928, longitude: 114.3055, plateProvince: '鄂', plateLetter: 'A', province: 42 },
  { name: 'Changsha', latitude: 28.2282, longitude: 112.9388, plateProvince: '湘', plateLetter: 'A', province: 43 },
  { name: 'Guangzhou', latitude: 23.1291, longitude: 113.2644, plateProvince: '粤', plateLetter: 'A', province: 44 },
  { name: 'Shenzhen', latitude: 22.5431, longitude: 114.0579, plateProvince: '粤', plateLetter: 'B', province: 44 },
  { name: 'Huizhou', latitude: 23.1115, longitude: 114.4152, plateProvince: '粤', plateLetter: 'L', province: 44 },
  { name: 'Maoming', latitude: 21.663, longitude: 110.9254, plateProvince: '粤', plateLetter: 'K', province: 44 },
  { name: 'Nanning', latitude: 22.817, longitude: 108.3669, plateProvince: '桂', plateLetter: 'A', province: 45 },
  { name: 'Chongqing', latitude: 29.563, longitude: 106.5516, plateProvince: '渝', plateLetter: 'A', province: 50 },
  { name: 'Chengdu', latitude: 30.5728, longitude: 104.0668, plateProvince: '川', plateLetter: 'A', province: 51 },
  { name: 'Guiyang', latitude: 26.647, longitude: 106.6302, plateProvince: '贵', plateLetter: 'A', province: 52 },
  { name: 'Kunming', latitude: 25.0389, longitude: 102.7183, plateProvince: '云', plateLetter: 'A', province: 53 },
  { name: "Xi'an", latitude: 34.3416, longitude: 108.9398, plateProvince: '陕', plateLetter: 'A', province: 61 },
  { name: 'Lanzhou', latitude: 36.0611, longitude: 103.8343, plateProvince: '甘', plateLetter: 'A', province: 62 },
  { name: 'Xining', latitude: 36.6171, longitude: 101.7782, plateProvince: '青', plateLetter: 'A', province: 63 },
  { name: 'Yinchuan', latitude: 38.4872, longitude: 106.2309, plateProvince: '宁', plateLetter: 'A', province: 64 },
  { name: 'Urumqi', latitude: 43.8256, longitude: 87.6168, plateProvince: '新', plateLetter: 'A', province: 65 },
]
