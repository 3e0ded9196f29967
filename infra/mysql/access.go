package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/downloadcenter/dc/domain"
)

// keyRow is the api_keys table's row.
type keyRow struct {
	ID         int64 `gorm:"primaryKey"`
	Tenant     string
	Name       string
	Scopes     string
	Hash       string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

func (keyRow) TableName() string { return "api_keys" }

func keyFromRow(r *keyRow) *domain.APIKey {
	var scopes []domain.Scope
	for _, s := range strings.Split(r.Scopes, ",") {
		if s != "" {
			scopes = append(scopes, domain.Scope(s))
		}
	}
	return &domain.APIKey{
		ID: r.ID, Tenant: r.Tenant, Name: r.Name, Scopes: scopes, Hash: r.Hash, CreatedAt: r.CreatedAt.UTC(),
		LastUsedAt: utc(r.LastUsedAt), RevokedAt: utc(r.RevokedAt),
	}
}

// CreateKey stores a key.
func (s *Store) CreateKey(ctx context.Context, k *domain.APIKey) error {
	r := &keyRow{Tenant: k.Tenant, Name: k.Name, Scopes: domain.JoinScopes(k.Scopes), Hash: k.Hash, CreatedAt: k.CreatedAt.UTC()}
	if err := s.db.WithContext(ctx).Create(r).Error; err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	k.ID = r.ID
	return nil
}

// KeyByHash finds a key by the hash of its secret.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*domain.APIKey, error) {
	var r keyRow
	err := s.db.WithContext(ctx).Where("hash = ?", hash).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("select key: %w", err)
	}
	return keyFromRow(&r), nil
}

// ListKeys lists every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]*domain.APIKey, error) {
	var rows []keyRow
	if err := s.db.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("select keys: %w", err)
	}
	out := make([]*domain.APIKey, len(rows))
	for i := range rows {
		out[i] = keyFromRow(&rows[i])
	}
	return out, nil
}

// RevokeKey marks a key revoked (once; revoking again keeps the first time).
func (s *Store) RevokeKey(ctx context.Context, id int64, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&keyRow{}).Where("id = ?", id).
		Update("revoked_at", gorm.Expr("COALESCE(revoked_at, ?)", at.UTC()))
	if res.Error != nil {
		return fmt.Errorf("revoke key %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return domain.Errorf(domain.KindNotFound, "no API key %d", id)
	}
	return nil
}

// TouchKey records a key's last use.
func (s *Store) TouchKey(ctx context.Context, id int64, at time.Time) error {
	return s.db.WithContext(ctx).Model(&keyRow{}).Where("id = ?", id).Update("last_used_at", at.UTC()).Error
}

// tenantRow is the tenants table's row: limit overrides.
type tenantRow struct {
	Name             string `gorm:"primaryKey"`
	MaxActive        *int64
	CreatesPerMinute *int64
	MaxRows          *int64
	MaxFileBytes     *int64
	UpdatedAt        time.Time `gorm:"autoUpdateTime:false"`
}

func (tenantRow) TableName() string { return "tenants" }

func tenantFromRow(r *tenantRow) *domain.TenantLimits {
	return &domain.TenantLimits{
		Tenant: r.Name, MaxActive: r.MaxActive, CreatesPerMinute: r.CreatesPerMinute,
		MaxRows: r.MaxRows, MaxFileBytes: r.MaxFileBytes, UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// SetTenant creates or replaces a tenant's overrides.
func (s *Store) SetTenant(ctx context.Context, t domain.TenantLimits) error {
	r := &tenantRow{Name: t.Tenant, MaxActive: t.MaxActive, CreatesPerMinute: t.CreatesPerMinute,
		MaxRows: t.MaxRows, MaxFileBytes: t.MaxFileBytes, UpdatedAt: t.UpdatedAt.UTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"max_active", "creates_per_minute", "max_rows", "max_file_bytes", "updated_at"}),
	}).Create(r).Error
	if err != nil {
		return fmt.Errorf("store tenant %s: %w", t.Tenant, err)
	}
	return nil
}

// Tenant returns a tenant's overrides.
func (s *Store) Tenant(ctx context.Context, name string) (*domain.TenantLimits, error) {
	var r tenantRow
	err := s.db.WithContext(ctx).Where("name = ?", name).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("select tenant: %w", err)
	}
	return tenantFromRow(&r), nil
}

// Tenants lists every tenant with overrides, by name.
func (s *Store) Tenants(ctx context.Context) ([]*domain.TenantLimits, error) {
	var rows []tenantRow
	if err := s.db.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("select tenants: %w", err)
	}
	out := make([]*domain.TenantLimits, len(rows))
	for i := range rows {
		out[i] = tenantFromRow(&rows[i])
	}
	return out, nil
}

// CountActive counts a tenant's waiting, running and retry-awaiting tasks.
func (s *Store) CountActive(ctx context.Context, tenant string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&taskRow{}).
		Where("tenant = ? AND (status IN ? OR (status = ? AND next_attempt_at IS NOT NULL))", tenant,
			[]string{string(domain.StatusNotExecuted), string(domain.StatusExecuting)}, string(domain.StatusFailed)).
		Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count active tasks: %w", err)
	}
	return n, nil
}

// ExpiredFiles lists SUCCESS tasks finished before the time whose file is
// still kept.
func (s *Store) ExpiredFiles(ctx context.Context, finishedBefore time.Time, limit int) ([]*domain.Task, error) {
	return s.find(s.db.WithContext(ctx).
		Where("status = ? AND finished_at < ? AND file_name IS NOT NULL AND file_removed_at IS NULL",
			string(domain.StatusSuccess), finishedBefore.UTC()).
		Order("finished_at").Limit(limit))
}

// MarkFileRemoved records that the file of a task's attempt was deleted.
func (s *Store) MarkFileRemoved(ctx context.Context, id int64, attempt int, at time.Time) error {
	n, err := s.update(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ? AND status = ? AND attempts = ? AND file_removed_at IS NULL", id, string(domain.StatusSuccess), attempt)
	}, map[string]any{"file_removed_at": at.UTC()})
	if err != nil {
		return fmt.Errorf("mark file of task %d removed: %w", id, err)
	}
	if n == 0 {
		return s.missing(ctx, id)
	}
	return nil
}

// finished is the condition of a task that will not run again by itself.
const finished = "(status IN ('SUCCESS', 'CANCELLED') OR (status = 'FAILED' AND next_attempt_at IS NULL))"

// OldTasks lists finished tasks created before the time.
func (s *Store) OldTasks(ctx context.Context, createdBefore time.Time, limit int) ([]*domain.Task, error) {
	return s.find(s.db.WithContext(ctx).Where("created_at < ? AND "+finished, createdBefore.UTC()).Order("created_at").Limit(limit))
}

// DeleteFinished deletes a finished task's row.
func (s *Store) DeleteFinished(ctx context.Context, id int64) (bool, error) {
	res := s.db.WithContext(ctx).Where("id = ? AND "+finished, id).Delete(&taskRow{})
	if res.Error != nil {
		return false, fmt.Errorf("delete task %d: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ReferencedFiles returns which names are the kept file of some task.
func (s *Store) ReferencedFiles(ctx context.Context, names []string) (map[string]bool, error) {
	var found []string
	if err := s.db.WithContext(ctx).Model(&taskRow{}).Where("file_name IN ? AND file_removed_at IS NULL", names).
		Pluck("file_name", &found).Error; err != nil {
		return nil, fmt.Errorf("look up file names: %w", err)
	}
	out := make(map[string]bool, len(found))
	for _, n := range found {
		out[n] = true
	}
	return out, nil
}
