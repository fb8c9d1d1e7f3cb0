// Error messages in Vietnamese for clients that ask for it (Accept-Language: vi, as the console does).
// The code never changes; the message becomes the Vietnamese sentence for the code, followed by the
// English message with its particulars (which station, which rule) in parentheses.
import type { FastifyRequest } from 'fastify';

const VI: Record<string, string> = {
  UNAUTHORIZED: 'Cần đăng nhập',
  BAD_CREDENTIALS: 'Sai tên đăng nhập hoặc mật khẩu',
  TOTP_REQUIRED: 'Tài khoản này cần mã xác thực 6 số',
  BAD_TOTP: 'Mã xác thực sai, hết hạn hoặc đã dùng',
  LOGIN_THROTTLED: 'Đăng nhập sai nhiều lần từ địa chỉ này; hãy thử lại sau',
  SOURCE_BLOCKED: 'Địa chỉ này tạm bị chặn đăng nhập vì sai quá nhiều lần',
  RATE_LIMITED: 'Quá nhiều yêu cầu; hãy thử lại sau',
  CSRF: 'Thiếu mã chống giả mạo của phiên làm việc',
  FORBIDDEN: 'Vai trò của bạn không được làm việc này',
  OUT_OF_SCOPE: 'Nằm ngoài đơn vị của bạn',
  NO_AREA: 'Hãy chọn vùng phát: đơn vị, đài, đa giác hoặc vòng tròn',
  EMPTY_AREA: 'Vùng đã chọn không có đài nào',
  UNKNOWN_EMERGENCY: 'Không có bản tin khẩn cấp này',
  UNKNOWN_TEMPLATE: 'Không có mẫu bản tin khẩn cấp này',
  TEMPLATE_EXISTS: 'Đã có mẫu với mã này',
  SAME_PERSON: 'Người phát lệnh không thể tự xác nhận; cần người thứ hai',
  CONFIRMATION_LAPSED: 'Đã quá hạn xác nhận; hãy phát lệnh lại',
  NOT_PENDING: 'Bản tin không còn chờ xác nhận',
  NOT_ACTIVE: 'Bản tin không còn hiệu lực',
  VALID_UNTIL_PAST: 'Thời hạn hiệu lực đã qua',
  VALID_TOO_LONG: 'Bản tin khẩn cấp có hiệu lực tối đa 24 giờ',
  REPEAT_PAST_VALIDITY: 'Thời gian lặp lại vượt quá hạn hiệu lực',
  EMERGENCY_SCHEDULE: 'Lịch này thuộc một bản tin khẩn cấp; hãy sửa hoặc hủy tại trang bản tin',
  TTS_UNAVAILABLE: 'Chưa cấu hình bộ đọc văn bản',
  VALIDATION_FAILED: 'Dữ liệu gửi lên không hợp lệ',
  INVALID_JSON: 'Nội dung gửi lên không phải JSON hợp lệ',
  TOO_DEEP: 'Dữ liệu lồng nhau quá sâu',
  TOO_LARGE: 'Tệp hoặc nội dung quá lớn',
  TOO_LONG: 'Âm thanh dài quá mức cho phép',
  NOT_AUDIO: 'Tệp không có âm thanh',
  CORRUPT_AUDIO: 'Không đọc được âm thanh của tệp',
  UPLOAD_STALLED: 'Tải lên bị ngừng giữa chừng',
  UPLOAD_TIMEOUT: 'Tải lên quá lâu',
  BODY_TIMEOUT: 'Gửi dữ liệu quá lâu',
  UNKNOWN_STATION: 'Không có đài này',
  UNKNOWN_UNIT: 'Không có đơn vị này',
  UNKNOWN_MEDIA: 'Không có bản tin này',
  UNKNOWN_SCHEDULE: 'Không có lịch phát này',
  UNKNOWN_OCCURRENCE: 'Không có lượt phát này',
  UNKNOWN_DEVICE: 'Không có thiết bị này',
  UNKNOWN_PLAYLIST: 'Không có danh sách phát này',
  UNKNOWN_JOB: 'Không có tác vụ này',
  UNIT_ENDED: 'Đơn vị này không còn (đã sáp nhập)',
  INVALID_TRANSITION: 'Không thể chuyển sang trạng thái này',
  NOT_UPCOMING: 'Lượt phát này không còn sắp tới',
  SELF_APPROVAL: 'Người soạn không được tự duyệt bản tin của mình',
  NOT_APPROVER: 'Vai trò của bạn không được duyệt bản tin',
  REASON_REQUIRED: 'Từ chối cần có lý do',
  MEDIA_NOT_APPROVED: 'Bản tin chưa được duyệt',
  POLICY_VIOLATION: 'Lịch phát vi phạm quy định phát thanh của đơn vị',
  SCHEDULE_IN_PAST: 'Không thể lập lịch cho thời điểm đã qua',
  NO_TARGETS: 'Chưa chọn đài hay đơn vị nào',
  USERNAME_TAKEN: 'Tên đăng nhập đã có người dùng',
  NOTHING_TO_MERGE: 'Bảng chuyển đổi không có đơn vị hiện hành nào để sáp nhập',
  CODE_IN_USE: 'Mã đơn vị đang được dùng',
  INVALID_TABLE: 'Bảng chuyển đổi không hợp lệ',
  NOT_FOUND: 'Không tìm thấy',
  INTERNAL: 'Lỗi hệ thống',
};

/** Whether the client prefers Vietnamese (its first language tag is vi). */
export const wantsVietnamese = (request: FastifyRequest) => /^\s*vi\b/i.test(String(request.headers['accept-language'] ?? ''));

/** The message a client asking for Vietnamese gets for `code`; the English one for everyone else. */
export function localized(request: FastifyRequest, code: string, message: string): string {
  const vi = wantsVietnamese(request) ? VI[code] : undefined;
  return vi ? `${vi} (${message})` : message;
}
